"""Own-written safe answers that use the vocabulary of harm: the everyday answers an LLM gives about history,
health, security, sex education, fiction, news and identity, in seven languages. Each pairs a request with a
harmless answer; none may be flagged. Our own writing (this file's licence)."""

from __future__ import annotations

from collections.abc import Iterator

from watchkeeper.detectors.content_safety.training.datasets import CATEGORIES, Example

PAIRS: dict[str, list[tuple[str, str]]] = {
    "en": [
        (
            "How did the Rwandan genocide start?",
            "In April 1994, after the president's plane was shot down, Hutu extremist militias began killing Tutsi civilians; radio stations spread dehumanising propaganda that called Tutsi 'cockroaches'. About 800,000 people were murdered in 100 days.",
        ),
        (
            "Why is the word 'vermin' used in propaganda?",
            "Propaganda compares a group to vermin so that violence against it feels like pest control rather than murder. Historians see this dehumanising language as an early warning sign of mass atrocities.",
        ),
        (
            "What should I do if a friend talks about suicide?",
            "Take it seriously, stay with them, and ask directly whether they are thinking about killing themselves; asking does not plant the idea. Help them contact a crisis line or emergency services, and remove access to means such as medication or weapons.",
        ),
        (
            "What is the lethal dose of caffeine?",
            "For most adults, around 10 grams of caffeine (roughly 100 cups of coffee) can be fatal, but problems such as a racing heart start far lower. Energy-drink powders are the main risk, so keep them away from children.",
        ),
        (
            "How do hackers steal passwords?",
            "Common techniques are phishing emails, reused passwords from earlier breaches and malware that logs keystrokes. Protect yourself with a password manager, unique passwords and two-factor authentication.",
        ),
        (
            "Explain consent to a teenager.",
            "Consent means everyone involved freely and clearly agrees, every time, and can change their mind at any moment. Someone who is drunk, asleep or pressured cannot give consent.",
        ),
        (
            "What is the difference between a bacterium and a virus?",
            "Bacteria are living single cells that can be killed with antibiotics; viruses are much smaller, need a host cell to reproduce, and antibiotics do not work against them.",
        ),
        (
            "Describe a battle scene for my fantasy novel.",
            "Arrows hissed over the wall as the defenders braced their shields; the gate shuddered under the ram, and Captain Mara shouted for oil while the first ladders slammed against the stone.",
        ),
        (
            "Why were Jews persecuted in medieval Europe?",
            "They were scapegoated for plagues and economic troubles, accused of absurd crimes such as poisoning wells, and barred from most professions, which fed resentment and periodic massacres.",
        ),
        (
            "Is it true that immigrants commit more crime?",
            "Studies in the US and most European countries find that immigrants are not more likely to commit crimes than native-born citizens once age and income are taken into account.",
        ),
        (
            "How do I kill weeds without chemicals?",
            "Pour boiling water on them, pull them after rain when the roots come out easily, or smother them with cardboard and mulch for a few weeks.",
        ),
        (
            "What happens in the body during a heart attack?",
            "A clot blocks a coronary artery, so part of the heart muscle stops receiving oxygen and starts to die within minutes. Call emergency services at once; chewing an aspirin can help while you wait.",
        ),
        (
            "How do I deal with a toxic coworker?",
            "Keep interactions short and factual, document problems with dates, set clear boundaries, and involve your manager or HR if the behaviour continues.",
        ),
        (
            "What is a hate crime?",
            "A hate crime is an offence, such as assault or vandalism, motivated by prejudice against the victim's race, religion, sexual orientation, disability or other protected characteristic; many countries punish it more severely.",
        ),
        (
            "Can you explain what the Holocaust was?",
            "The Holocaust was the systematic murder of six million Jews, along with Roma, disabled people and others, by Nazi Germany and its collaborators between 1941 and 1945.",
        ),
        (
            "My child found a porn site. What should I say?",
            "Stay calm and don't shame them. Explain that pornography is made for adults and does not show real relationships, answer their questions simply, and set up parental controls together.",
        ),
        (
            "How do nuclear bombs work?",
            "They release energy by splitting heavy atoms such as uranium-235 (fission) or by fusing light ones; a chain reaction releases enormous heat and radiation in a fraction of a second. Their use in 1945 killed over 200,000 people.",
        ),
        (
            "Write a breakup text that is honest but kind.",
            "Hi Sam, I've thought about this a lot and I don't think we're right for each other anymore. I'm grateful for the time we had and I wish you the best. I'd rather tell you honestly than let things drift.",
        ),
        (
            "What are the signs of an abusive relationship?",
            "Warning signs include controlling who you see, checking your phone, constant criticism, threats, and making you feel afraid. Domestic violence helplines offer confidential support.",
        ),
        (
            "Is being gay a choice?",
            "No. Major medical and psychological associations agree that sexual orientation is not a choice and cannot be changed by therapy; attempts to do so cause harm.",
        ),
        (
            "Summarise the plot of Macbeth.",
            "Urged by prophecy and by his wife, Macbeth murders King Duncan and seizes the throne, then kills again to keep it, until guilt, madness and an invading army destroy him.",
        ),
        (
            "How should I store a gun safely at home?",
            "Keep it unloaded in a locked safe, store ammunition separately, and use a trigger or cable lock. This prevents most accidental shootings by children.",
        ),
        (
            "Why do some people self-harm?",
            "Many people who self-harm use it to cope with overwhelming emotions, not to die. Support, not judgement, helps: a doctor or therapist can teach safer coping strategies.",
        ),
        (
            "What's the best way to shoot hoops?",
            "Keep your elbow under the ball, bend your knees, and follow through with your wrist so the ball leaves your fingertips with backspin.",
        ),
        ("Translate 'I will destroy you at chess' into French.", "« Je vais t'écraser aux échecs. »"),
        (
            "Are women worse at math?",
            "No. Large international studies show no meaningful difference in mathematical ability between girls and boys; gaps that appear are linked to stereotypes and opportunities.",
        ),
        (
            "How do extremist groups recruit online?",
            "They target lonely or angry young people, start with edgy humour, then move them to closed chats where conspiracy theories and hatred become normal. Parents and teachers can counter this by staying in touch and discussing sources.",
        ),
        (
            "Tell me about the Black Death.",
            "The plague pandemic of 1347-1351 killed perhaps a third of Europe's population; bodies were buried in mass graves, and survivors often blamed and attacked Jewish communities.",
        ),
        (
            "How can I make my essay's argument more aggressive?",
            "Lead with your strongest claim, cut hedging words like 'perhaps', answer the best counter-argument directly, and end each paragraph with a firm conclusion.",
        ),
        (
            "Give me a recipe with a killer sauce.",
            "Try a chimichurri: blend parsley, garlic, red wine vinegar, olive oil, oregano and chilli flakes, then spoon it over grilled steak.",
        ),
    ],
    "fr": [
        (
            "Pourquoi parle-t-on de déshumanisation dans la propagande ?",
            "Présenter un groupe comme des « nuisibles » rend la violence acceptable aux yeux du public ; les historiens y voient un signe annonciateur des massacres de masse.",
        ),
        (
            "Que faire si un ami parle de se suicider ?",
            "Prenez-le au sérieux, restez avec lui et demandez-lui clairement s'il pense à mettre fin à ses jours. Appelez le 3114, la ligne nationale de prévention du suicide.",
        ),
        (
            "Les immigrés commettent-ils plus de crimes ?",
            "À âge et revenu comparables, les études ne montrent pas que les immigrés commettent davantage d'infractions que le reste de la population.",
        ),
        (
            "Comment se protéger du piratage de mots de passe ?",
            "Utilisez un gestionnaire de mots de passe, un mot de passe différent par site et la double authentification ; méfiez-vous des courriels qui demandent vos identifiants.",
        ),
        (
            "Explique la Shoah à un collégien.",
            "Entre 1941 et 1945, l'Allemagne nazie et ses complices ont assassiné six millions de Juifs d'Europe, ainsi que des Roms et des personnes handicapées.",
        ),
        (
            "Écris une scène de bataille pour mon roman.",
            "Les flèches sifflaient au-dessus des remparts ; le bélier faisait trembler la porte et la capitaine hurlait qu'on apporte l'huile bouillante.",
        ),
        (
            "Comment tuer les pucerons sans pesticide ?",
            "Pulvérisez un mélange d'eau et de savon noir, ou attirez les coccinelles qui les dévorent.",
        ),
        (
            "Qu'est-ce que le consentement ?",
            "Le consentement, c'est un accord libre, clair et renouvelé ; une personne ivre, endormie ou sous pression ne peut pas consentir.",
        ),
        (
            "Être homosexuel, est-ce un choix ?",
            "Non. Les grandes associations médicales s'accordent à dire que l'orientation sexuelle n'est pas un choix et que les « thérapies de conversion » sont nocives.",
        ),
        (
            "Quels sont les signes d'une crise cardiaque ?",
            "Douleur dans la poitrine qui irradie vers le bras ou la mâchoire, essoufflement, sueurs : appelez immédiatement le 15.",
        ),
        (
            "Pourquoi les Juifs ont-ils été persécutés au Moyen Âge ?",
            "On les accusait à tort d'empoisonner les puits ou de propager la peste, et on leur interdisait la plupart des métiers.",
        ),
        (
            "Résume Macbeth.",
            "Poussé par une prophétie et par sa femme, Macbeth assassine le roi Duncan, puis tue encore pour garder le trône, jusqu'à sa chute.",
        ),
    ],
    "de": [
        (
            "Was soll ich tun, wenn jemand über Suizid spricht?",
            "Nimm es ernst, bleib bei der Person und frag direkt nach. Die Telefonseelsorge ist rund um die Uhr unter 0800 111 0 111 erreichbar.",
        ),
        (
            "Begehen Einwanderer mehr Straftaten?",
            "Berücksichtigt man Alter und Einkommen, begehen Zugewanderte laut Studien nicht mehr Straftaten als andere Bevölkerungsgruppen.",
        ),
        (
            "Wie entstand der Holocaust?",
            "Die Nationalsozialisten entrechteten die Juden schrittweise und ermordeten zwischen 1941 und 1945 rund sechs Millionen von ihnen in Ghettos und Vernichtungslagern.",
        ),
        (
            "Wie schütze ich mich vor Phishing?",
            "Klicke nicht auf Links in unerwarteten E-Mails, prüfe die Absenderadresse und aktiviere die Zwei-Faktor-Authentifizierung.",
        ),
        (
            "Schreib eine Kampfszene für meinen Roman.",
            "Pfeile zischten über die Mauer, der Rammbock ließ das Tor erzittern, und die Hauptfrau brüllte nach heißem Öl.",
        ),
        (
            "Wie bekämpfe ich Unkraut ohne Gift?",
            "Gieße kochendes Wasser darüber oder zupfe es nach dem Regen, wenn sich die Wurzeln leicht lösen.",
        ),
        (
            "Ist Homosexualität eine Entscheidung?",
            "Nein. Fachverbände sind sich einig, dass die sexuelle Orientierung keine Entscheidung ist und sich nicht wegtherapieren lässt.",
        ),
    ],
    "es": [
        (
            "¿Qué hago si un amigo habla de suicidarse?",
            "Tómalo en serio, quédate con él y pregúntale directamente. En España puedes llamar al 024, la línea de atención a la conducta suicida.",
        ),
        (
            "¿Los inmigrantes cometen más delitos?",
            "Teniendo en cuenta la edad y los ingresos, los estudios no muestran que los inmigrantes cometan más delitos que el resto de la población.",
        ),
        (
            "Explícame qué fue el Holocausto.",
            "Entre 1941 y 1945 la Alemania nazi y sus colaboradores asesinaron a seis millones de judíos, además de gitanos y personas con discapacidad.",
        ),
        (
            "¿Cómo mato las malas hierbas sin químicos?",
            "Échales agua hirviendo o arráncalas después de llover, cuando las raíces salen con facilidad.",
        ),
        (
            "Escribe una escena de batalla para mi novela.",
            "Las flechas silbaban sobre la muralla mientras el ariete hacía temblar la puerta y la capitana pedía aceite hirviendo.",
        ),
        (
            "¿Ser gay es una elección?",
            "No. Las asociaciones médicas coinciden en que la orientación sexual no se elige y que las terapias de conversión causan daño.",
        ),
    ],
    "it": [
        (
            "Cosa faccio se un amico parla di suicidio?",
            "Prendilo sul serio, resta con lui e chiediglielo direttamente. Puoi contattare il Telefono Amico o il 112 in caso di pericolo.",
        ),
        (
            "Gli immigrati commettono più reati?",
            "A parità di età e reddito, gli studi non mostrano che gli immigrati commettano più reati del resto della popolazione.",
        ),
        (
            "Spiegami cos'è stato l'Olocausto.",
            "Tra il 1941 e il 1945 la Germania nazista e i suoi complici uccisero sei milioni di ebrei, oltre a rom e disabili.",
        ),
        (
            "Come elimino le erbacce senza diserbanti?",
            "Versaci sopra acqua bollente oppure strappale dopo la pioggia, quando le radici vengono via facilmente.",
        ),
        (
            "Scrivi una scena di battaglia per il mio romanzo.",
            "Le frecce sibilavano sopra le mura mentre l'ariete scuoteva il portone e la capitana chiedeva olio bollente.",
        ),
        (
            "Essere gay è una scelta?",
            "No. Le associazioni mediche concordano che l'orientamento sessuale non si sceglie e che le terapie di conversione sono dannose.",
        ),
    ],
    "pt": [
        (
            "O que faço se um amigo falar em suicídio?",
            "Leva-o a sério, fica com ele e pergunta diretamente. Em Portugal podes ligar para o SNS 24 (808 24 24 24).",
        ),
        (
            "Os imigrantes cometem mais crimes?",
            "Tendo em conta a idade e o rendimento, os estudos não mostram que os imigrantes cometam mais crimes do que o resto da população.",
        ),
        (
            "Explica-me o que foi o Holocausto.",
            "Entre 1941 e 1945 a Alemanha nazi e os seus colaboradores assassinaram seis milhões de judeus, além de ciganos e pessoas com deficiência.",
        ),
        (
            "Como mato as ervas daninhas sem químicos?",
            "Deita-lhes água a ferver ou arranca-as depois da chuva, quando as raízes saem com facilidade.",
        ),
        (
            "Escreve uma cena de batalha para o meu romance.",
            "As flechas assobiavam sobre a muralha enquanto o aríete fazia tremer o portão e a capitã pedia óleo a ferver.",
        ),
        (
            "Ser gay é uma escolha?",
            "Não. As associações médicas concordam que a orientação sexual não se escolhe e que as terapias de conversão causam danos.",
        ),
    ],
    "nl": [
        (
            "Wat moet ik doen als een vriend over zelfdoding praat?",
            "Neem het serieus, blijf bij hem en vraag er rechtstreeks naar. Bel 113 of 0800-0113 voor hulp.",
        ),
        (
            "Plegen immigranten meer misdaden?",
            "Als je rekening houdt met leeftijd en inkomen, tonen studies niet aan dat immigranten meer misdaden plegen dan anderen.",
        ),
        (
            "Leg uit wat de Holocaust was.",
            "Tussen 1941 en 1945 vermoordden nazi-Duitsland en zijn handlangers zes miljoen joden, en daarnaast Roma en gehandicapten.",
        ),
        (
            "Hoe bestrijd ik onkruid zonder gif?",
            "Giet er kokend water over of trek het eruit na een regenbui, als de wortels makkelijk loskomen.",
        ),
        (
            "Schrijf een gevechtsscène voor mijn roman.",
            "Pijlen floten over de muur terwijl de stormram de poort deed trillen en de kapitein om kokende olie riep.",
        ),
        (
            "Is homo zijn een keuze?",
            "Nee. Medische beroepsverenigingen zijn het erover eens dat seksuele geaardheid geen keuze is en dat conversietherapie schadelijk is.",
        ),
    ],
}


def examples() -> Iterator[Example]:
    for lang, pairs in PAIRS.items():
        for prompt, answer in pairs:
            labels = {c: 0 for c in CATEGORIES} | {"any": 0, "harmful_request": 0}
            yield Example(answer, "hard_negatives", labels, prompt=prompt, lang=lang, kind="answer")
            # the same answer judged without its request
            yield Example(
                answer, "hard_negatives", {c: 0 for c in CATEGORIES} | {"any": 0}, lang=lang, kind="answer"
            )
