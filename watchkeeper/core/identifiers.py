"""Identifiers that can never be someone's data: reserved for documentation, tests, fiction or placeholders.

An answer that writes `jane.doe@example.com`, `555-0123`, `4111 1111 1111 1111` or `192.0.2.10` is showing a
format, not leaking. Both the SDK's redaction (it counts what it removed) and the leakage detector use these
rules, so they agree on what counts as a real value.

Sources: RFC 2606 and RFC 6761 (reserved domain names), RFC 5737 and RFC 3849 (documentation address ranges),
the North American Numbering Plan's 555-0100..0199 fiction range, Ofcom's drama number ranges (UK), ACMA's
(Australia), and the test card numbers payment providers publish.
"""

from __future__ import annotations

import ipaddress
import re

#: Second-level names reserved by RFC 2606 under these top-level domains.
_RESERVED_SLD = frozenset({"example.com", "example.net", "example.org", "example.edu"})
#: Top-level domains reserved by RFC 2606 / RFC 6761 (+ "local", mDNS, RFC 6762).
_RESERVED_TLD = frozenset({"example", "test", "invalid", "localhost", "local"})
#: Labels that only ever appear in made-up addresses ("support@example1.com", "me@yourcompany.com").
_PLACEHOLDER_LABEL = re.compile(
    r"^(?:example\d*|examples?|sample\d*|test\d*|demo\d*|dummy|fake|placeholder|your-?\w*|my-?(?:company|domain|site|"
    r"business|website)|domain\d*|company\d*|companyname|business(?:name)?|website|site|email|e-mail|mail\d*|"
    r"acme(?:corp)?|contoso|fabrikam|northwind(?:traders)?|adventure-?works|foo|bar|foobar|xyz|abc|xxx+|"
    r"somewhere|anywhere|nowhere|organization|organisation|org|school|university|host|server|provider|"
    r"emailprovider|emaildomain)$"
)
#: Local parts of made-up addresses.
_PLACEHOLDER_LOCAL = re.compile(
    r"^(?:(?:john|jane|j)[._-]?(?:doe|smith)\d*|(?:your|my|user|first|full)[._-]?(?:name|email|address)?\d*|"
    r"name\d*|user(?:name)?\d*|first[._-]?last|firstname[._-]?lastname|f\.?lastname|someone|somebody|"
    r"email|e-mail|address|example\d*|sample|test\d*|demo|dummy|fake|foo|bar|xxx+|abc|xyz|me|you|"
    r"recipient|sender|customer|client|employee|student|applicant|candidate|member|person)$"
)
#: Role addresses: an organisation's published mailboxes (RFC 2142 and common practice), not a person's.
_ROLE_LOCAL = frozenset(
    [
        "info",
        "support",
        "contact",
        "contacts",
        "hello",
        "hi",
        "help",
        "helpdesk",
        "service",
        "services",
        "customerservice",
        "customercare",
        "care",
        "sales",
        "marketing",
        "press",
        "media",
        "pr",
        "news",
        "newsletter",
        "office",
        "admin",
        "administrator",
        "webmaster",
        "postmaster",
        "hostmaster",
        "abuse",
        "security",
        "privacy",
        "legal",
        "compliance",
        "billing",
        "accounts",
        "accounting",
        "finance",
        "invoices",
        "orders",
        "shop",
        "store",
        "booking",
        "bookings",
        "reservations",
        "enquiries",
        "inquiries",
        "feedback",
        "team",
        "careers",
        "jobs",
        "hr",
        "recruiting",
        "recruitment",
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "notifications",
        "alerts",
        "events",
        "partners",
        "partnerships",
        "investors",
        "general",
        "mail",
        "reception",
        "frontdesk",
    ]
)

_TEST_CARDS = frozenset(
    [
        "4111111111111111",
        "4012888888881881",
        "4222222222222",
        "4242424242424242",
        "4000056655665556",
        "4000002500003155",
        "4000000000000002",
        "4000000000009995",
        "4000000000000077",
        "4000000000000093",
        "4000000000003220",
        "4000000000000341",
        "4000000760000002",
        "4000001240000000",
        "4000008260000000",
        "4462030000000000",
        "4917610000000000",
        "4484070000000000",
        "5555555555554444",
        "5105105105105100",
        "5200828282828210",
        "5454545454545454",
        "2223003122003222",
        "2221000000000009",
        "378282246310005",
        "371449635398431",
        "378734493671000",
        "6011111111111117",
        "6011000990139424",
        "6011000000000004",
        "3530111333300000",
        "3566002020360505",
        "30569309025904",
        "38520000023237",
        "36227206271667",
        "6200000000000005",
        "6250941006528599",
        "6304000000000000",
        "6759649826438453",
        "5019717010103742",
        "4035501000000008",
        "4360000001000005",
        "4988438843884305",
        "4166676667666746",
        "4646464646464644",
        "4444333322221111",
        "4001590000000001",
        "5101180000000007",
        "2222400070000005",
        "5577000055770004",
        "4571000000000001",
        "4199350000000002",
        "6703444444444449",
    ]
)

_AWS_EXAMPLE = re.compile(r"EXAMPLE(?:KEY)?$", re.IGNORECASE)
_DOC_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "233.252.0.0/24")
)


def is_reserved_domain(domain: str) -> bool:
    """RFC 2606 / 6761 names and their subdomains, and made-up ones (example1.com, yourcompany.com)."""
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if len(labels) < 2:
        return domain in _RESERVED_TLD
    if labels[-1] in _RESERVED_TLD or ".".join(labels[-2:]) in _RESERVED_SLD:
        return True
    return any(_PLACEHOLDER_LABEL.match(label) for label in labels[:-1])


def is_placeholder_email(address: str) -> bool:
    """A made-up or reserved address: the domain is reserved or a placeholder, or the mailbox is."""
    local, _, domain = address.lower().rpartition("@")
    if not local or not domain:
        return True
    return is_reserved_domain(domain) or bool(_PLACEHOLDER_LOCAL.match(local))


def is_role_email(address: str) -> bool:
    """info@, support@, sales@ ...: an organisation's mailbox is not personal data."""
    local = address.lower().rpartition("@")[0]
    return local.split("+", 1)[0] in _ROLE_LOCAL


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit())


def is_placeholder_digits(digits: str) -> bool:
    """123-456-7890, 000-000-0000, 555-555-5555, 9876543210: runs and repeats nobody is called on."""
    if len(set(digits)) <= 2:
        return True
    if any(run in digits for run in ("1234567", "2345678", "3456789", "9876543", "0123456")):
        return True
    return bool(re.search(r"(\d)\1{5,}", digits))


def is_reserved_phone(number: str) -> bool:
    """Fiction and documentation numbers (NANP 555-01xx and 555 exchanges, UK and Australian drama ranges)."""
    digits = _digits(number)
    if is_placeholder_digits(digits):
        return True
    national = digits
    if national.startswith("1") and len(national) == 11:
        national = national[1:]
    if len(national) == 10 and (national[3:6] == "555" or national[:3] == "555"):
        return True  # 555-0100..0199 is reserved for fiction; 555 exchanges are used in fiction broadly
    if len(national) == 7 and national[:3] == "555":
        return True
    uk = digits[2:] if digits.startswith("44") else digits[1:] if digits.startswith("0") else None
    if uk is not None and re.match(
        r"^(?:1632960\d{3}|2079460\d{3}|1134960\d{3}|1144960\d{3}|1154960\d{3}|1164960\d{3}|"
        r"1174960\d{3}|1184960\d{3}|1214960\d{3}|1314960\d{3}|1414960\d{3}|1514960\d{3}|2890180\d{3}|"
        r"2920180\d{3}|7700900\d{3}|8081570\d{3}|9098790\d{3}|3069990\d{3})$",
        uk,
    ):
        return True
    au = digits[2:] if digits.startswith("61") else digits[1:] if digits.startswith("0") else None
    return au is not None and bool(
        re.match(
            r"^(?:491570[0-9]{3}|491571[0-9]{3}|491572[0-9]{3}|[2378]5550\d{4}|"
            r"[2378]7010\d{4})$",
            au,
        )
    )


def is_test_card(number: str) -> bool:
    """Published test card numbers, and obviously generated ones (runs of one digit, counting sequences)."""
    digits = _digits(number)
    return digits in _TEST_CARDS or is_placeholder_digits(digits[6:]) or bool(re.search(r"0{7,}", digits))


def is_example_secret(value: str) -> bool:
    """Documentation keys: AWS's ...EXAMPLE keys, values that say example/sample/dummy/placeholder/xxxx."""
    lower = value.lower()
    return bool(_AWS_EXAMPLE.search(value)) or any(
        word in lower for word in ("example", "sample", "dummy", "placeholder", "your_", "your-", "xxxx")
    )


_EXAMPLE_IBANS = frozenset(
    {
        "GB82WEST12345698765432",
        "GB33BUKB20201555555555",
        "GB29NWBK60161331926819",
        "DE89370400440532013000",
        "DE44500105175407324931",
        "FR1420041010050500013M02606",
        "FR7630006000011234567890189",
        "NL91ABNA0417164300",
        "ES9121000418450200051332",
        "IT60X0542811101000000123456",
        "BE68539007547034",
        "BE71096123456769",
        "CH9300762011623852957",
        "AT611904300234573201",
        "PT50000201231234567890154",
        "LU280019400644750000",
    }
)
#: Public resolvers and other addresses quoted in every networking answer.
_WELL_KNOWN_IPS = frozenset(
    {"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112"}
    | {"208.67.222.222", "208.67.220.220"}
)


def is_example_iban(iban: str) -> bool:
    """IBANs printed in the ISO 13616 registry, Wikipedia and banks' documentation."""
    return iban.replace(" ", "").upper() in _EXAMPLE_IBANS


def is_placeholder_ssn(ssn: str) -> bool:
    """123-45-6789, 078-05-1120 (the Woolworth wallet card) and digit runs nobody was issued."""
    digits = _digits(ssn)
    return digits in {"123456789", "078051120", "219099999"} or is_placeholder_digits(digits)


def is_personal_ip(address: str) -> bool:
    """A public address that could be a person's: not private, loopback, link-local, multicast,
    documentation (RFC 5737 / 3849) or a well-known public resolver."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return ip.is_global and not is_documentation_ip(address) and address not in _WELL_KNOWN_IPS


def is_documentation_ip(address: str) -> bool:
    """RFC 5737 / RFC 3849 documentation ranges (and MCAST-TEST-NET)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _DOC_NETWORKS)
