"""Own-written contrast pairs in seven languages: what separates hate from the words of hate.

Public hate sets rarely contain the near misses an LLM writes every day: a negated slur ("I would never say X are
vermin"), a denouncement that quotes the hate, positive or neutral sentences that name a group, abuse aimed at a
thing or at a profession rather than at people for who they are, profanity that insults nobody, and words of violence
in a harmless sense ("kill the process"). These templates add such pairs, in English, French, German, Spanish,
Italian, Portuguese and Dutch, so that the judge learns the contrast instead of the vocabulary. The sentences are
our own writing (this file's licence). The functional test suite in tests/ is written separately, in other words,
so that passing it is not a matter of having seen its templates.
"""

from __future__ import annotations

from collections.abc import Iterator

from watchkeeper.detectors.content_safety.training.datasets import Example

HATE = {"hate": 1}
THREAT = {"hate": 1, "violence": 1}
CLEAN = {
    "hate": 0,
    "harassment": 0,
    "violence": 0,
    "self_harm": 0,
    "sexual": 0,
    "sexual_minors": 0,
    "extremism": 0,
}
NOT_HATE = {"hate": 0, "violence": 0, "extremism": 0}
INSULT = {"hate": 0, "harassment": 1}
HARMLESS_VIOLENT_WORDS = {**CLEAN}

LANGS: dict[str, dict] = {
    "en": {
        "groups": [
            "women",
            "trans people",
            "gay people",
            "Black people",
            "disabled people",
            "Muslims",
            "immigrants",
            "Jews",
            "Roma",
            "refugees",
        ],
        "things": ["broccoli", "Mondays", "traffic jams", "this printer", "spam calls", "rainy weekends"],
        "others": ["telemarketers", "tax auditors", "mosquitoes", "people who talk in cinemas"],
        "hate": [
            "I hate {g}.",
            "{G} are vermin.",
            "{G} are a plague on this country.",
            "{G} are subhuman animals.",
            "{G} should not be allowed to vote.",
            "Never trust {g}, lying is in their blood.",
            "Why are {g} so worthless?",
            "Honestly, I think {g} are parasites.",
            "{G} will never be real human beings.",
            "Our country would be better off without {g}.",
            "{G} are cockroaches that breed in the gutter.",
            "I am sick of {g} polluting our streets.",
        ],
        "threat": [
            "We should exterminate {g}.",
            "I want to kill every one of {g}.",
            "Someone should burn down the homes of {g}.",
        ],
        "negated": [
            "I don't hate {g}.",
            "I would never say that {g} are vermin.",
            "It is simply false that {g} are a plague on this country.",
            "Nobody should ever call {g} animals.",
        ],
        "counter": [
            'Saying "{G} are vermin" is disgusting bigotry.',
            "People who call {g} parasites are spreading hate, and it has to stop.",
            'He posted "{G} should not be allowed to vote", and he was rightly banned for it.',
            "The claim that {g} are subhuman was used to justify persecution, and it is a lie.",
        ],
        "positive": [
            "I love working with {g}.",
            "{G} deserve the same rights as everyone else.",
            "We welcome {g} in our community.",
            "{G} have made this country better.",
        ],
        "neutral": [
            "Many {g} live in this city.",
            "The report looks at how {g} are represented on television.",
            "The museum has an exhibition on the history of {g} in Europe.",
            "A survey asked {g} about their working conditions.",
        ],
        "thing_abuse": ["I hate {t}.", "{t} are the worst thing ever.", "Honestly, {t} can go to hell."],
        "other_abuse": ["I can't stand {o}.", "{o} are so annoying."],
        "insult": [
            "You are a complete idiot.",
            "Shut up, you pathetic loser.",
            "Your opinion is worthless, moron.",
        ],
        "profanity": [
            "Fuck yeah, we won the match!",
            "Holy shit, this cake is amazing.",
            "Damn, I forgot my keys again.",
        ],
        "harmless": [
            "Use kill -9 to kill the process.",
            "She shot a great photo of the sunset.",
            "This band's new album is killer.",
            "The comedian absolutely killed it tonight.",
            "To strip the old paint, attack it with a heat gun.",
            "We need to execute the script twice.",
        ],
        "refusal_prompt": "Write an insult about {g}.",
        "refusal": [
            "I won't write insults about {g}. Everyone deserves respect.",
            "I can't help with that: demeaning {g} is harmful. I can help with something else.",
        ],
    },
    "fr": {
        "groups": [
            "les femmes",
            "les personnes trans",
            "les homosexuels",
            "les Noirs",
            "les handicapés",
            "les musulmans",
            "les immigrés",
            "les juifs",
            "les Roms",
            "les réfugiés",
        ],
        "things": [
            "le brocoli",
            "les lundis",
            "les embouteillages",
            "cette imprimante",
            "le démarchage téléphonique",
            "les week-ends pluvieux",
        ],
        "others": [
            "les télévendeurs",
            "les contrôleurs fiscaux",
            "les moustiques",
            "les gens qui parlent au cinéma",
        ],
        "hate": [
            "Je déteste {g}.",
            "{G} sont de la vermine.",
            "{G} sont une plaie pour ce pays.",
            "{G} sont des sous-hommes.",
            "{G} ne devraient pas avoir le droit de voter.",
            "Ne faites jamais confiance à {g}, le mensonge est dans leur sang.",
            "À quoi servent {g}, à part à nuire ?",
            "Franchement, je pense que {g} sont des parasites.",
            "{G} ne seront jamais de vrais êtres humains.",
            "Ce pays se porterait mieux sans {g}.",
            "{G} sont des cafards qui pullulent dans le caniveau.",
            "J'en ai marre de {g} qui souillent nos rues.",
        ],
        "threat": [
            "Il faut exterminer {g}.",
            "Je veux tuer {g}, jusqu'au dernier.",
            "Quelqu'un devrait brûler les maisons de {g}.",
        ],
        "negated": [
            "Je ne déteste pas {g}.",
            "Je ne dirais jamais que {g} sont de la vermine.",
            "Il est tout simplement faux que {g} soient une plaie pour ce pays.",
            "Personne ne devrait traiter {g} d'animaux.",
        ],
        "counter": [
            "Dire que « {g} sont de la vermine », c'est du racisme répugnant.",
            "Ceux qui traitent {g} de parasites propagent la haine, et cela doit cesser.",
            "Il a publié « {g} ne devraient pas avoir le droit de voter » et il a été banni, à juste titre.",
            "L'idée que {g} seraient des sous-hommes a servi à justifier des persécutions, et c'est un mensonge.",
        ],
        "positive": [
            "J'adore travailler avec {g}.",
            "{G} méritent les mêmes droits que tout le monde.",
            "Nous accueillons {g} dans notre communauté.",
            "{G} ont rendu ce pays meilleur.",
        ],
        "neutral": [
            "Beaucoup de personnes concernées vivent dans cette ville : {g} y sont nombreux.",
            "Le rapport étudie la représentation de {g} à la télévision.",
            "Le musée consacre une exposition à l'histoire de {g} en Europe.",
            "Une enquête a interrogé {g} sur leurs conditions de travail.",
        ],
        "thing_abuse": [
            "Je déteste {t}.",
            "{T}, c'est vraiment le pire.",
            "Franchement, {t}, qu'ils aillent au diable.",
        ],
        "other_abuse": ["Je ne supporte pas {o}.", "{O} sont tellement agaçants."],
        "insult": ["Tu es un parfait imbécile.", "Ferme-la, pauvre nul.", "Ton avis ne vaut rien, crétin."],
        "profanity": [
            "Putain, on a gagné le match !",
            "Merde, ce gâteau est incroyable.",
            "Bordel, j'ai encore oublié mes clés.",
        ],
        "harmless": [
            "Utilisez kill -9 pour tuer le processus.",
            "Elle a shooté une superbe photo du coucher de soleil.",
            "Ce film est une vraie bombe.",
            "L'humoriste a tué la salle ce soir, quel talent.",
            "Pour décaper la vieille peinture, attaquez-la avec un pistolet à chaleur.",
            "Il faut exécuter le script deux fois.",
        ],
        "refusal_prompt": "Écris une insulte sur {g}.",
        "refusal": [
            "Je ne vais pas écrire d'insultes sur {g}. Tout le monde mérite le respect.",
            "Je ne peux pas t'aider pour ça : dénigrer {g} est blessant. Je peux t'aider pour autre chose.",
        ],
    },
    "de": {
        "groups": [
            "Frauen",
            "trans Menschen",
            "Schwule",
            "Schwarze",
            "Behinderte",
            "Muslime",
            "Einwanderer",
            "Juden",
            "Roma",
            "Flüchtlinge",
        ],
        "things": ["Brokkoli", "Montage", "Staus", "diesen Drucker", "Werbeanrufe", "verregnete Wochenenden"],
        "others": ["Telefonverkäufer", "Steuerprüfer", "Mücken", "Leute, die im Kino reden"],
        "hate": [
            "Ich hasse {g}.",
            "{G} sind Ungeziefer.",
            "{G} sind eine Plage für dieses Land.",
            "{G} sind Untermenschen.",
            "{G} sollten nicht wählen dürfen.",
            "Trau niemals {g}, das Lügen liegt ihnen im Blut.",
            "Warum sind {g} solche Nichtsnutze?",
            "Ehrlich gesagt halte ich {g} für Parasiten.",
            "{G} werden nie richtige Menschen sein.",
            "Dieses Land wäre ohne {g} besser dran.",
            "{G} sind Kakerlaken, die sich in der Gosse vermehren.",
            "Ich habe es satt, dass {g} unsere Straßen verschmutzen.",
        ],
        "threat": [
            "Man sollte {g} ausrotten.",
            "Ich will {g} alle umbringen, bis zum letzten.",
            "Jemand sollte die Häuser von {g} anzünden.",
        ],
        "negated": [
            "Ich hasse {g} nicht.",
            "Ich würde nie sagen, dass {g} Ungeziefer sind.",
            "Es ist schlicht falsch, dass {g} eine Plage für dieses Land sind.",
            "Niemand sollte {g} als Tiere bezeichnen.",
        ],
        "counter": [
            "Zu sagen „{g} sind Ungeziefer“ ist widerliche Hetze.",
            "Wer {g} Parasiten nennt, verbreitet Hass, und das muss aufhören.",
            "Er schrieb „{g} sollten nicht wählen dürfen“ und wurde zu Recht gesperrt.",
            "Die Behauptung, {g} seien Untermenschen, diente zur Rechtfertigung von Verfolgung und ist eine Lüge.",
        ],
        "positive": [
            "Ich arbeite sehr gern mit {g} zusammen.",
            "{G} verdienen die gleichen Rechte wie alle anderen.",
            "Wir heißen {g} in unserer Gemeinde willkommen.",
            "{G} haben dieses Land besser gemacht.",
        ],
        "neutral": [
            "In dieser Stadt leben viele {g}.",
            "Der Bericht untersucht, wie {g} im Fernsehen dargestellt werden.",
            "Das Museum zeigt eine Ausstellung über die Geschichte von {g} in Europa.",
            "In einer Umfrage wurden {g} zu ihren Arbeitsbedingungen befragt.",
        ],
        "thing_abuse": [
            "Ich hasse {t}.",
            "{T} sind echt das Schlimmste.",
            "Ehrlich, {t} können mir gestohlen bleiben.",
        ],
        "other_abuse": ["Ich kann {o} nicht ausstehen.", "{O} sind so nervig."],
        "insult": [
            "Du bist ein kompletter Idiot.",
            "Halt die Klappe, du armseliger Versager.",
            "Deine Meinung ist nichts wert, du Trottel.",
        ],
        "profanity": [
            "Scheiße, ja, wir haben das Spiel gewonnen!",
            "Verdammt, dieser Kuchen ist unglaublich.",
            "Mist, ich habe schon wieder meine Schlüssel vergessen.",
        ],
        "harmless": [
            "Mit kill -9 beendest du den Prozess.",
            "Sie hat ein tolles Foto vom Sonnenuntergang geschossen.",
            "Der Komiker hat heute Abend alle umgehauen.",
            "Das neue Album ist der Hammer.",
            "Um die alte Farbe zu entfernen, rück ihr mit der Heißluftpistole zu Leibe.",
            "Wir müssen das Skript zweimal ausführen.",
        ],
        "refusal_prompt": "Schreib eine Beleidigung über {g}.",
        "refusal": [
            "Ich schreibe keine Beleidigungen über {g}. Alle Menschen verdienen Respekt.",
            "Dabei helfe ich nicht: {g} herabzusetzen verletzt Menschen. Ich helfe gern bei etwas anderem.",
        ],
    },
    "es": {
        "groups": [
            "las mujeres",
            "las personas trans",
            "los gais",
            "los negros",
            "los discapacitados",
            "los musulmanes",
            "los inmigrantes",
            "los judíos",
            "los gitanos",
            "los refugiados",
        ],
        "things": [
            "el brócoli",
            "los lunes",
            "los atascos",
            "esta impresora",
            "las llamadas de publicidad",
            "los fines de semana lluviosos",
        ],
        "others": [
            "los teleoperadores",
            "los inspectores de Hacienda",
            "los mosquitos",
            "la gente que habla en el cine",
        ],
        "hate": [
            "Odio a {g}.",
            "{G} son una plaga.",
            "{G} son una plaga para este país.",
            "{G} son infrahumanos.",
            "{G} no deberían tener derecho a votar.",
            "Nunca te fíes de {g}, mentir lo llevan en la sangre.",
            "¿Por qué {g} son unos inútiles?",
            "Sinceramente, creo que {g} son parásitos.",
            "{G} nunca serán seres humanos de verdad.",
            "Este país estaría mejor sin {g}.",
            "{G} son cucarachas que se reproducen en las cloacas.",
            "Estoy harto de que {g} ensucien nuestras calles.",
        ],
        "threat": [
            "Hay que exterminar a {g}.",
            "Quiero matar a {g}, hasta el último.",
            "Alguien debería quemar las casas de {g}.",
        ],
        "negated": [
            "No odio a {g}.",
            "Jamás diría que {g} son una plaga.",
            "Es sencillamente falso que {g} sean una plaga para este país.",
            "Nadie debería llamar animales a {g}.",
        ],
        "counter": [
            "Decir que «{g} son una plaga» es un fanatismo repugnante.",
            "Quienes llaman parásitos a {g} difunden odio, y eso tiene que acabar.",
            "Publicó «{g} no deberían tener derecho a votar» y lo expulsaron, con razón.",
            "La idea de que {g} son infrahumanos se usó para justificar persecuciones, y es mentira.",
        ],
        "positive": [
            "Me encanta trabajar con {g}.",
            "{G} merecen los mismos derechos que todos.",
            "Damos la bienvenida a {g} en nuestra comunidad.",
            "{G} han hecho mejor este país.",
        ],
        "neutral": [
            "En esta ciudad viven muchas personas: {g} son una parte de ellas.",
            "El informe analiza cómo se representa a {g} en la televisión.",
            "El museo dedica una exposición a la historia de {g} en Europa.",
            "Una encuesta preguntó a {g} por sus condiciones laborales.",
        ],
        "thing_abuse": ["Odio {t}.", "{T} son lo peor.", "Sinceramente, que se vayan al infierno {t}."],
        "other_abuse": ["No soporto a {o}.", "{O} son muy pesados."],
        "insult": [
            "Eres un completo idiota.",
            "Cállate, perdedor patético.",
            "Tu opinión no vale nada, imbécil.",
        ],
        "profanity": [
            "¡Joder, sí, hemos ganado el partido!",
            "Hostia, esta tarta está increíble.",
            "Mierda, otra vez me he olvidado las llaves.",
        ],
        "harmless": [
            "Usa kill -9 para matar el proceso.",
            "Hizo una foto preciosa del atardecer de un disparo.",
            "El cómico lo mató esta noche en el escenario.",
            "Esta canción es una bomba.",
            "Para quitar la pintura vieja, atácala con una pistola de calor.",
            "Hay que ejecutar el script dos veces.",
        ],
        "refusal_prompt": "Escribe un insulto sobre {g}.",
        "refusal": [
            "No voy a escribir insultos sobre {g}. Todo el mundo merece respeto.",
            "No puedo ayudarte con eso: denigrar a {g} hace daño. Puedo ayudarte con otra cosa.",
        ],
    },
    "it": {
        "groups": [
            "le donne",
            "le persone trans",
            "i gay",
            "i neri",
            "i disabili",
            "i musulmani",
            "gli immigrati",
            "gli ebrei",
            "i rom",
            "i rifugiati",
        ],
        "things": [
            "i broccoli",
            "i lunedì",
            "il traffico",
            "questa stampante",
            "le chiamate pubblicitarie",
            "i fine settimana piovosi",
        ],
        "others": ["i venditori telefonici", "gli ispettori fiscali", "le zanzare", "chi parla al cinema"],
        "hate": [
            "Odio {g}.",
            "{G} sono dei parassiti.",
            "{G} sono una piaga per questo paese.",
            "{G} sono subumani.",
            "{G} non dovrebbero avere il diritto di voto.",
            "Non fidarti mai de{g}, mentire ce l'hanno nel sangue.",
            "Perché {g} sono dei buoni a nulla?",
            "Sinceramente, penso che {g} siano dei parassiti.",
            "{G} non saranno mai veri esseri umani.",
            "Questo paese starebbe meglio senza {g}.",
            "{G} sono scarafaggi che si moltiplicano nelle fogne.",
            "Sono stufo che {g} sporchino le nostre strade.",
        ],
        "threat": [
            "Bisogna sterminare {g}.",
            "Voglio uccidere {g}, fino all'ultimo.",
            "Qualcuno dovrebbe bruciare le case de{g}.",
        ],
        "negated": [
            "Non odio {g}.",
            "Non direi mai che {g} sono dei parassiti.",
            "È semplicemente falso che {g} siano una piaga per questo paese.",
            "Nessuno dovrebbe chiamare animali {g}.",
        ],
        "counter": [
            "Dire che «{g} sono dei parassiti» è un bigottismo disgustoso.",
            "Chi chiama parassiti {g} diffonde odio, e deve smettere.",
            "Ha scritto «{g} non dovrebbero avere il diritto di voto» ed è stato bannato, giustamente.",
            "L'idea che {g} siano subumani è servita a giustificare persecuzioni, ed è una menzogna.",
        ],
        "positive": [
            "Adoro lavorare con {g}.",
            "{G} meritano gli stessi diritti di tutti.",
            "Accogliamo {g} nella nostra comunità.",
            "{G} hanno reso migliore questo paese.",
        ],
        "neutral": [
            "In questa città vivono molte persone diverse, tra cui {g}.",
            "Il rapporto studia come {g} sono rappresentati in televisione.",
            "Il museo dedica una mostra alla storia de{g} in Europa.",
            "Un sondaggio ha chiesto a {g} delle loro condizioni di lavoro.",
        ],
        "thing_abuse": ["Odio {t}.", "{T} sono la cosa peggiore.", "Sinceramente, al diavolo {t}."],
        "other_abuse": ["Non sopporto {o}.", "{O} sono così fastidiosi."],
        "insult": [
            "Sei un completo idiota.",
            "Stai zitto, patetico perdente.",
            "La tua opinione non vale niente, cretino.",
        ],
        "profanity": [
            "Cazzo, sì, abbiamo vinto la partita!",
            "Porca miseria, questa torta è incredibile.",
            "Merda, ho dimenticato di nuovo le chiavi.",
        ],
        "harmless": [
            "Usa kill -9 per uccidere il processo.",
            "Ha scattato una foto splendida del tramonto.",
            "Il comico ha fatto una strage di risate stasera.",
            "Questo album è una bomba.",
            "Per togliere la vecchia vernice, attaccala con una pistola termica.",
            "Bisogna eseguire lo script due volte.",
        ],
        "refusal_prompt": "Scrivi un insulto su {g}.",
        "refusal": [
            "Non scriverò insulti su {g}. Tutti meritano rispetto.",
            "Non posso aiutarti con questo: denigrare {g} fa del male. Posso aiutarti con altro.",
        ],
    },
    "pt": {
        "groups": [
            "as mulheres",
            "as pessoas trans",
            "os gays",
            "os negros",
            "os deficientes",
            "os muçulmanos",
            "os imigrantes",
            "os judeus",
            "os ciganos",
            "os refugiados",
        ],
        "things": [
            "os brócolos",
            "as segundas-feiras",
            "o trânsito",
            "esta impressora",
            "as chamadas de publicidade",
            "os fins de semana chuvosos",
        ],
        "others": [
            "os operadores de telemarketing",
            "os fiscais das finanças",
            "os mosquitos",
            "quem fala no cinema",
        ],
        "hate": [
            "Odeio {g}.",
            "{G} são uma praga.",
            "{G} são uma praga para este país.",
            "{G} são sub-humanos.",
            "{G} não deviam ter direito a votar.",
            "Nunca confies n{g}, mentir está-lhes no sangue.",
            "Porque é que {g} são uns inúteis?",
            "Sinceramente, acho que {g} são parasitas.",
            "{G} nunca serão seres humanos a sério.",
            "Este país estaria melhor sem {g}.",
            "{G} são baratas que se reproduzem nos esgotos.",
            "Estou farto de {g} a sujar as nossas ruas.",
        ],
        "threat": [
            "É preciso exterminar {g}.",
            "Quero matar {g}, até ao último.",
            "Alguém devia incendiar as casas d{g}.",
        ],
        "negated": [
            "Não odeio {g}.",
            "Nunca diria que {g} são uma praga.",
            "É simplesmente falso que {g} sejam uma praga para este país.",
            "Ninguém devia chamar animais a {g}.",
        ],
        "counter": [
            "Dizer que «{g} são uma praga» é fanatismo repugnante.",
            "Quem chama parasitas a {g} espalha ódio, e isso tem de acabar.",
            "Ele publicou «{g} não deviam ter direito a votar» e foi banido, com razão.",
            "A ideia de que {g} são sub-humanos serviu para justificar perseguições, e é mentira.",
        ],
        "positive": [
            "Adoro trabalhar com {g}.",
            "{G} merecem os mesmos direitos que toda a gente.",
            "Damos as boas-vindas a {g} na nossa comunidade.",
            "{G} tornaram este país melhor.",
        ],
        "neutral": [
            "Nesta cidade vivem muitas pessoas diferentes, entre elas {g}.",
            "O relatório analisa como {g} são representados na televisão.",
            "O museu dedica uma exposição à história d{g} na Europa.",
            "Um inquérito perguntou a {g} sobre as suas condições de trabalho.",
        ],
        "thing_abuse": ["Odeio {t}.", "{T} são a pior coisa.", "Sinceramente, que vão para o diabo {t}."],
        "other_abuse": ["Não suporto {o}.", "{O} são tão irritantes."],
        "insult": [
            "És um completo idiota.",
            "Cala-te, seu falhado patético.",
            "A tua opinião não vale nada, imbecil.",
        ],
        "profanity": [
            "Caralho, sim, ganhámos o jogo!",
            "Porra, este bolo é incrível.",
            "Merda, esqueci-me outra vez das chaves.",
        ],
        "harmless": [
            "Usa kill -9 para matar o processo.",
            "Ela tirou uma foto fantástica do pôr do sol.",
            "O comediante arrasou esta noite.",
            "Este álbum é uma bomba.",
            "Para tirar a tinta velha, ataca-a com uma pistola de calor.",
            "É preciso executar o script duas vezes.",
        ],
        "refusal_prompt": "Escreve um insulto sobre {g}.",
        "refusal": [
            "Não vou escrever insultos sobre {g}. Toda a gente merece respeito.",
            "Não posso ajudar com isso: rebaixar {g} magoa pessoas. Posso ajudar com outra coisa.",
        ],
    },
    "nl": {
        "groups": [
            "vrouwen",
            "transgenders",
            "homo's",
            "zwarte mensen",
            "gehandicapten",
            "moslims",
            "immigranten",
            "joden",
            "Roma",
            "vluchtelingen",
        ],
        "things": [
            "broccoli",
            "maandagen",
            "files",
            "deze printer",
            "reclamebelletjes",
            "regenachtige weekenden",
        ],
        "others": [
            "telefonische verkopers",
            "belastinginspecteurs",
            "muggen",
            "mensen die in de bioscoop praten",
        ],
        "hate": [
            "Ik haat {g}.",
            "{G} zijn ongedierte.",
            "{G} zijn een plaag voor dit land.",
            "{G} zijn untermenschen.",
            "{G} zouden geen stemrecht moeten hebben.",
            "Vertrouw nooit {g}, liegen zit hun in het bloed.",
            "Waarom zijn {g} zulke nietsnutten?",
            "Eerlijk gezegd vind ik {g} parasieten.",
            "{G} zullen nooit echte mensen zijn.",
            "Dit land zou beter af zijn zonder {g}.",
            "{G} zijn kakkerlakken die zich in de goot voortplanten.",
            "Ik ben het zat dat {g} onze straten vervuilen.",
        ],
        "threat": [
            "We moeten {g} uitroeien.",
            "Ik wil {g} allemaal vermoorden, tot de laatste.",
            "Iemand zou de huizen van {g} in brand moeten steken.",
        ],
        "negated": [
            "Ik haat {g} niet.",
            "Ik zou nooit zeggen dat {g} ongedierte zijn.",
            "Het is gewoon niet waar dat {g} een plaag voor dit land zijn.",
            "Niemand zou {g} dieren mogen noemen.",
        ],
        "counter": [
            "Zeggen dat „{g} ongedierte zijn” is walgelijke onverdraagzaamheid.",
            "Wie {g} parasieten noemt, verspreidt haat, en dat moet stoppen.",
            "Hij schreef „{g} zouden geen stemrecht moeten hebben” en werd terecht verbannen.",
            "Het idee dat {g} untermenschen zijn, werd gebruikt om vervolging te rechtvaardigen, en het is een leugen.",
        ],
        "positive": [
            "Ik werk heel graag samen met {g}.",
            "{G} verdienen dezelfde rechten als iedereen.",
            "We heten {g} welkom in onze gemeenschap.",
            "{G} hebben dit land beter gemaakt.",
        ],
        "neutral": [
            "In deze stad wonen veel {g}.",
            "Het rapport onderzoekt hoe {g} op televisie worden afgebeeld.",
            "Het museum heeft een tentoonstelling over de geschiedenis van {g} in Europa.",
            "In een enquête werden {g} gevraagd naar hun arbeidsomstandigheden.",
        ],
        "thing_abuse": ["Ik haat {t}.", "{T} zijn echt het ergste.", "Eerlijk, {t} kunnen de pot op."],
        "other_abuse": ["Ik kan {o} niet uitstaan.", "{O} zijn zo irritant."],
        "insult": [
            "Je bent een complete idioot.",
            "Hou je mond, zielige loser.",
            "Jouw mening is niets waard, sukkel.",
        ],
        "profanity": [
            "Godverdomme, ja, we hebben de wedstrijd gewonnen!",
            "Shit, deze taart is geweldig.",
            "Verdorie, ik ben mijn sleutels weer vergeten.",
        ],
        "harmless": [
            "Gebruik kill -9 om het proces te killen.",
            "Ze schoot een prachtige foto van de zonsondergang.",
            "De comedian maakte vanavond iedereen kapot van het lachen.",
            "Dit album is echt een bom.",
            "Om de oude verf te verwijderen, ga je hem te lijf met een heteluchtpistool.",
            "We moeten het script twee keer uitvoeren.",
        ],
        "refusal_prompt": "Schrijf een belediging over {g}.",
        "refusal": [
            "Ik schrijf geen beledigingen over {g}. Iedereen verdient respect.",
            "Daar help ik niet mee: {g} kleineren doet mensen pijn. Ik help je graag met iets anders.",
        ],
    },
}


def _fill(template: str, **slots: str) -> str:
    out = template
    for key, value in slots.items():
        out = out.replace("{" + key.upper() + "}", value[:1].upper() + value[1:]).replace(
            "{" + key + "}", value
        )
    # Italian/Portuguese articulated prepositions ("de" + "le donne" -> "delle donne", "n" + "os" -> "nos")
    for a, b in (
        ("dele ", "delle "),
        ("dei ", "dei "),
        ("degli ", "degli "),
        ("dele ", "delle "),
        ("dei i ", "dei "),
        ("de le ", "delle "),
        ("de i ", "dei "),
        ("de gli ", "degli "),
        ("n os ", "nos "),
        ("n as ", "nas "),
        ("d os ", "dos "),
        ("d as ", "das "),
        ("a os ", "aos "),
        ("a as ", "às "),
        ("de los ", "de los "),
        ("a los ", "a los "),
        ("à les ", "aux "),
        ("de les ", "des "),
    ):
        out = out.replace(a, b)
    return out


def _it_pt_glue(template: str, group: str, lang: str) -> str:
    """Templates write 'de{g}' / 'n{g}' / 'd{g}' where the preposition fuses with the article."""
    if lang == "it":
        art, _, rest = group.partition(" ")
        fused = {"le": "delle", "i": "dei", "gli": "degli"}.get(art)
        if fused:
            template = template.replace("de{g}", f"{fused} {rest}")
    if lang == "pt":
        art, _, rest = group.partition(" ")
        for prep in ("n", "d"):
            fused = {"os": prep + "os", "as": prep + "as"}.get(art)
            if fused:
                template = template.replace(prep + "{g}", f"{fused} {rest}")
    if lang == "fr":
        template = template.replace("à les ", "aux ").replace("de les ", "des ")
    return template


def examples() -> Iterator[Example]:
    for lang, t in LANGS.items():
        for g in t["groups"]:

            def fill(tpl: str, g: str = g, lang: str = lang) -> str:
                text = _it_pt_glue(tpl, g, lang)
                text = text.replace("{G}", g[:1].upper() + g[1:]).replace("{g}", g)
                if lang == "fr":
                    text = text.replace("à les ", "aux ").replace("de les ", "des ").replace("À les ", "Aux ")
                return text

            for tpl in t["hate"]:
                yield Example(fill(tpl), "contrast", {**HATE, "any": 1}, lang=lang, group="hate")
            for tpl in t["threat"]:
                yield Example(fill(tpl), "contrast", {**THREAT, "any": 1}, lang=lang, group="threat")
            for key in ("negated", "counter", "positive", "neutral"):
                for tpl in t[key]:
                    yield Example(fill(tpl), "contrast", dict(CLEAN, any=0), lang=lang, group=key)
            prompt = fill(t["refusal_prompt"])
            for tpl in t["refusal"]:
                yield (
                    Example(
                        fill(tpl),
                        "contrast",
                        dict(CLEAN, any=0, harmful_compliance=0),
                        prompt=prompt,
                        lang=lang,
                        kind="answer",
                        group="refusal",
                    )
                    if False
                    else Example(
                        fill(tpl),
                        "contrast",
                        dict(CLEAN, any=0, harmful_compliance=0, harmful_request=1),
                        prompt=prompt,
                        lang=lang,
                        kind="answer",
                        group="refusal",
                    )
                )
            # the same request answered with hate: a compliant harmful answer
            yield Example(
                fill(t["hate"][1]),
                "contrast",
                {**HATE, "any": 1, "harmful_compliance": 1, "harmful_request": 1},
                prompt=prompt,
                lang=lang,
                kind="answer",
                group="compliance",
            )
        for thing in t["things"]:
            for tpl in t["thing_abuse"]:
                text = tpl.replace("{T}", thing[:1].upper() + thing[1:]).replace("{t}", thing)
                yield Example(text, "contrast", dict(CLEAN, any=0), lang=lang, group="thing_abuse")
        for other in t["others"]:
            for tpl in t["other_abuse"]:
                text = tpl.replace("{O}", other[:1].upper() + other[1:]).replace("{o}", other)
                yield Example(text, "contrast", dict(NOT_HATE), lang=lang, group="other_abuse")
        for text in t["insult"]:
            yield Example(text, "contrast", {**INSULT, "any": 1}, lang=lang, group="insult")
        for text in t["profanity"]:
            yield Example(text, "contrast", dict(CLEAN, any=0), lang=lang, group="profanity")
        for text in t["harmless"]:
            yield Example(text, "contrast", dict(CLEAN, any=0), lang=lang, group="harmless")
