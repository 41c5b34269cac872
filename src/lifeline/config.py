"""Every setting of Lifeline, its environment variable and its default (the README's table)."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from limits import RateLimitItem, parse_many


@dataclass(frozen=True)
class Settings:
    db: str = "sqlite:///var/lifeline.db"
    db_replica: str = ""  # a PostgreSQL streaming replica of `db` for reads and searches (storage/postgres.py)
    node_id: str = "central"
    host: str = "127.0.0.1"
    port: int = 8080
    base_url: str = ""  # public base of the FHIR API; empty: derived from each request
    allowed_hosts: str = ""  # Host headers answered, comma-separated; empty: see allowed_hosts_of
    max_body_bytes: int = 16 * 1024 * 1024
    invariants: str = "warn"  # warn | strict | off
    empty_elements: str = "remove"  # remove (with a warning) | refuse: null and empty values (validation/tidy.py)
    default_count: int = 50
    max_count: int = 1000
    statement_timeout_ms: int = 30000  # a database statement running longer is stopped (TooCostly, 503)
    workers: int = 1
    # Identity and access (docs/security.md); authorisation and the audit trail are always on.
    issuer: str = ""  # this node's token issuer URL; empty: the origin of base_url, else http://host:port
    trusted_issuers: str = ""  # other nodes' issuer URLs, comma-separated (site nodes)
    kek_file: str = "var/lifeline.kek"  # key-encryption key of secrets at rest; created if missing
    kek: str = ""  # the same key given directly (base64url, 32 bytes); wins over kek_file
    token_minutes: int = 15  # lifetime of an access token
    token_leeway_seconds: int = 120  # clock difference tolerated when checking a token
    care_window_days: int = 30  # how long after an encounter or appointment care still gives access
    break_glass_hours: int = 4  # how long a break-the-glass access lasts
    threat_level: str = "normal"  # normal | elevated | high
    audit_retention_years: int = 10  # audit records younger than this are never pruned
    audit_review_days: int = 14  # how far back the privacy officers' review list looks
    audit_burst_patients: int = 20  # more patients than this opened within an hour is unusual
    # Patients log in at the citizen identity provider (OpenID Connect, identity/citizen.py).
    citizen_issuer: str = ""  # the provider's issuer URL; empty: no patient login
    citizen_client_id: str = ""
    citizen_client_secret: str = ""
    citizen_cpr_claim: str = "cpr"  # the ID token claim that carries the CPR number
    # Hospital site nodes (replication/, docs/architecture.md "Site nodes").
    role: str = "central"  # central | site
    central: str = ""  # a site's central node (base URL, without /fhir)
    site_credential: str = ""  # a site's credential from `lifeline sites add` on the centre
    replication_poll_ms: int = 250  # how often a site pushes its outbox and reads the feed
    central_timeout_ms: int = 1000  # how long a site waits for one answer from the centre
    continuity_after_failures: int = 3  # failed polls in a row that put a site in continuity mode
    # Downtime reports on paper (downtime/, docs/security.md "Downtime reports").
    downtime_dir: str = "var/downtime"  # where the encrypted PDFs and their index are written
    downtime_key: str = ""  # the reports' AES-256 key (base64, 32 bytes; `lifeline downtime key`)
    downtime_minutes: int = 15  # how often a site node makes them again; 0: never by itself
    # Telling the truth in an outage (status/, docs/architecture.md "Status and incidents").
    log_dir: str = "var/log"  # where the node writes its JSON log lines (lifeline.jsonl); empty: none
    log_level: str = "info"  # info | debug (debug adds every replication poll and status scrape)
    probe_seconds: int = 60  # how often the node's health probes run; 0: never by themselves
    probe_user: str = ""  # the synthetic probe's staff login (`lifeline incidents probe-account`); empty: none
    login_failures_alarm: int = 50  # failed staff logins within 5 minutes that open an incident
    replication_stall_seconds: int = 120  # a site's replication behind this long opens an incident
    site_silent_seconds: int = 120  # a site not heard from at the centre this long opens an incident
    clock_skew_seconds: int = 60  # a node's clock this far from its peers opens an incident
    # Scans and X-rays (imaging/, docs/architecture.md "Images"): a DICOMweb PACS behind Lifeline.
    pacs_url: str = ""  # the region's PACS, its DICOMweb base (Orthanc: http://host:8042/dicom-web); empty: none
    pacs_timeout_ms: int = 5000  # how long one answer from a PACS may take before it counts as down
    site_pacs_url: str = ""  # a site's own small PACS, where it keeps copies of recent studies; empty: none
    image_cache_days: int = 30  # a site copies studies this recent of its patients in care ...
    image_cache_ahead_days: int = 7  # ... with a current stay or an appointment within this many days
    messages_dir: str = ""  # the file sender's folder: each message to a patient as one JSON file; empty: none
    messages_every_seconds: float = 10.0  # how often the sender looks for messages to patients still to send
    # The patient portal (issue 25): days a result is held back from the patient, by category code
    # (access/held_results.py); `default` for any other result. Released at once by a clinician.
    portal_hold_days: str = "default=3,SP=7,PAT=7,CP=7,CY=7,GE=7,CG=7,RAD=7,CT=7,NMR=7,NMS=7,RUS=7,RX=7,imaging=7"
    # FHIR Bulk Data $export (bulk/export_jobs.py, issue 26).
    export_keep_hours: int = 24  # how long an export's status and files are kept after its kick-off
    export_file_lines: int = 100_000  # resources per NDJSON file of an export; more make another file
    # Slow clients and shutdown (web/http_protocol.py, web/health.py, issue 28; docs/operations.md).
    request_read_seconds: float = 15.0  # a request's head, and each stretch of its body, must arrive within this
    max_header_bytes: int = 32 * 1024  # a request line and headers larger than this get 431
    keep_alive_seconds: int = 5  # an idle kept-alive connection is closed after this
    shutdown_seconds: int = 30  # on SIGTERM, requests in flight get this long to finish
    ready_timeout_ms: int = 2000  # /readyz: how long the database may take to answer
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (web/client_address.py):
    # addresses or networks, comma-separated; none by default (the connection's address is the client's).
    trusted_proxies: str = ""
    # Rate limits (web/rate_limits.py, issue 28; docs/security.md "Rate limits"): limits' notation,
    # several joined by `;`, or `none`.
    rate_limit_anonymous: str = "1200/minute"  # per client address, without a verified credential
    rate_limit_login: str = "120/minute"  # per client address, the login and token posts
    rate_limit_account: str = "3000/minute"  # per staff or patient account, sessions and tokens alike
    rate_limit_app: str = "6000/minute"  # per app (OAuth client id) of a system token
    rate_limit_storage: str = "memory://"  # this process's memory, or redis://host:port shared by many
    # Admission control (web/admission.py, issue 28; docs/operations.md): per process.
    admission_in_flight: int = 64  # requests answered at once, every class together
    admission_shares: str = "clinical=100,portal=60,apps=50,anonymous=25"  # % of that a class may fill
    admission_wait_ms: str = "clinical=2000,portal=1000,apps=1000,anonymous=250"  # a queued request's wait
    principal_in_flight: int = 8  # one user's or app's requests at once; more wait, then 429


ENVIRONMENT = {
    "db": "LIFELINE_DB",
    "db_replica": "LIFELINE_DB_REPLICA",
    "node_id": "LIFELINE_NODE_ID",
    "host": "LIFELINE_HOST",
    "port": "LIFELINE_PORT",
    "base_url": "LIFELINE_BASE_URL",
    "allowed_hosts": "LIFELINE_ALLOWED_HOSTS",
    "max_body_bytes": "LIFELINE_MAX_BODY_BYTES",
    "invariants": "LIFELINE_INVARIANTS",
    "empty_elements": "LIFELINE_EMPTY_ELEMENTS",
    "default_count": "LIFELINE_DEFAULT_COUNT",
    "max_count": "LIFELINE_MAX_COUNT",
    "statement_timeout_ms": "LIFELINE_STATEMENT_TIMEOUT_MS",
    "workers": "LIFELINE_WORKERS",
    "issuer": "LIFELINE_ISSUER",
    "trusted_issuers": "LIFELINE_TRUSTED_ISSUERS",
    "kek_file": "LIFELINE_KEK_FILE",
    "kek": "LIFELINE_KEK",
    "token_minutes": "LIFELINE_TOKEN_MINUTES",
    "token_leeway_seconds": "LIFELINE_TOKEN_LEEWAY_SECONDS",
    "care_window_days": "LIFELINE_CARE_WINDOW_DAYS",
    "break_glass_hours": "LIFELINE_BREAK_GLASS_HOURS",
    "threat_level": "LIFELINE_THREAT_LEVEL",
    "audit_retention_years": "LIFELINE_AUDIT_RETENTION_YEARS",
    "audit_review_days": "LIFELINE_AUDIT_REVIEW_DAYS",
    "audit_burst_patients": "LIFELINE_AUDIT_BURST_PATIENTS",
    "citizen_issuer": "LIFELINE_CITIZEN_ISSUER",
    "citizen_client_id": "LIFELINE_CITIZEN_CLIENT_ID",
    "citizen_client_secret": "LIFELINE_CITIZEN_CLIENT_SECRET",
    "citizen_cpr_claim": "LIFELINE_CITIZEN_CPR_CLAIM",
    "role": "LIFELINE_ROLE",
    "central": "LIFELINE_CENTRAL",
    "site_credential": "LIFELINE_SITE_CREDENTIAL",
    "replication_poll_ms": "LIFELINE_REPLICATION_POLL_MS",
    "central_timeout_ms": "LIFELINE_CENTRAL_TIMEOUT_MS",
    "continuity_after_failures": "LIFELINE_CONTINUITY_AFTER_FAILURES",
    "downtime_dir": "LIFELINE_DOWNTIME_DIR",
    "downtime_key": "LIFELINE_DOWNTIME_KEY",
    "downtime_minutes": "LIFELINE_DOWNTIME_MINUTES",
    "log_dir": "LIFELINE_LOG_DIR",
    "log_level": "LIFELINE_LOG_LEVEL",
    "probe_seconds": "LIFELINE_PROBE_SECONDS",
    "probe_user": "LIFELINE_PROBE_USER",
    "login_failures_alarm": "LIFELINE_LOGIN_FAILURES_ALARM",
    "replication_stall_seconds": "LIFELINE_REPLICATION_STALL_SECONDS",
    "site_silent_seconds": "LIFELINE_SITE_SILENT_SECONDS",
    "clock_skew_seconds": "LIFELINE_CLOCK_SKEW_SECONDS",
    "pacs_url": "LIFELINE_PACS_URL",
    "pacs_timeout_ms": "LIFELINE_PACS_TIMEOUT_MS",
    "site_pacs_url": "LIFELINE_SITE_PACS_URL",
    "image_cache_days": "LIFELINE_IMAGE_CACHE_DAYS",
    "image_cache_ahead_days": "LIFELINE_IMAGE_CACHE_AHEAD_DAYS",
    "messages_dir": "LIFELINE_MESSAGES_DIR",
    "messages_every_seconds": "LIFELINE_MESSAGES_EVERY_SECONDS",
    "portal_hold_days": "LIFELINE_PORTAL_HOLD_DAYS",
    "export_keep_hours": "LIFELINE_EXPORT_KEEP_HOURS",
    "export_file_lines": "LIFELINE_EXPORT_FILE_LINES",
    "request_read_seconds": "LIFELINE_REQUEST_READ_SECONDS",
    "max_header_bytes": "LIFELINE_MAX_HEADER_BYTES",
    "trusted_proxies": "LIFELINE_TRUSTED_PROXIES",
    "keep_alive_seconds": "LIFELINE_KEEP_ALIVE_SECONDS",
    "shutdown_seconds": "LIFELINE_SHUTDOWN_SECONDS",
    "ready_timeout_ms": "LIFELINE_READY_TIMEOUT_MS",
    "rate_limit_anonymous": "LIFELINE_RATE_LIMIT_ANONYMOUS",
    "rate_limit_login": "LIFELINE_RATE_LIMIT_LOGIN",
    "rate_limit_account": "LIFELINE_RATE_LIMIT_ACCOUNT",
    "rate_limit_app": "LIFELINE_RATE_LIMIT_APP",
    "rate_limit_storage": "LIFELINE_RATE_LIMIT_STORAGE",
    "admission_in_flight": "LIFELINE_ADMISSION_IN_FLIGHT",
    "admission_shares": "LIFELINE_ADMISSION_SHARES",
    "admission_wait_ms": "LIFELINE_ADMISSION_WAIT_MS",
    "principal_in_flight": "LIFELINE_PRINCIPAL_IN_FLIGHT",
}

# Variables that were settings once: refused, so that whoever set one learns it is gone (issue 20).
REMOVED = {
    "LIFELINE_AUTH": "authorisation is always required and cannot be switched off",
    "LIFELINE_AUDIT": "every access is always recorded in the audit trail, which cannot be switched off",
}


class SettingError(ValueError):
    pass


# A Host header: a DNS name or IPv4 address, or an IPv6 address in brackets, and maybe a port.
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::([0-9]{1,5}))?")
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
_ANY_ADDRESS = frozenset({"", "0.0.0.0", "::", "[::]"})  # listen addresses that name no host

Host = tuple[str, int | None]  # name (lower case, IPv6 in brackets) and port; None: any port


def parse_host(text: str) -> Host | None:
    """A Host header's name and port, or None if it is not one."""
    match = _HOST.fullmatch(text.strip().lower())
    if match is None:
        return None
    port = match.group(2)
    return match.group(1), int(port) if port else None


def allowed_hosts_of(settings: Settings) -> frozenset[Host] | None:
    """The Host headers this node answers (web/hosts.py); None: any (`LIFELINE_ALLOWED_HOSTS=*`).
    Unless configured: the hosts of the base URL and the issuer, the loopback names, and the
    address `serve` listens on, each on any port."""
    configured = settings.allowed_hosts.strip()
    if configured == "*":
        return None
    if configured:
        entries = [entry.strip() for entry in configured.split(",") if entry.strip()]
    else:
        urls = [url for url in (settings.base_url, settings.issuer) if url]
        listening = [] if settings.host in _ANY_ADDRESS else [_bracketed(settings.host)]
        entries = [*(urlsplit(url).netloc.rpartition("@")[2] for url in urls), *_LOOPBACK, *listening]
    hosts = set()
    for entry in entries:
        host = parse_host(entry)
        if host is None and configured:
            raise SettingError(f"LIFELINE_ALLOWED_HOSTS: {entry!r} is not a host name (name or name:port)")
        if host is not None:
            hosts.add(host if configured else (host[0], None))
    return frozenset(hosts)


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address and not address.startswith("[") else address


# One entry of LIFELINE_PORTAL_HOLD_DAYS: a category code (or `default`) and a whole number of days.
_HOLD_ENTRY = re.compile(r"([A-Za-z0-9_.-]{1,64})=([0-9]{1,3})")
MOST_HOLD_DAYS = 365


def portal_hold_days(settings: Settings) -> tuple[int, tuple[tuple[str, int], ...]]:
    """LIFELINE_PORTAL_HOLD_DAYS read: the default days (0 when not named) and the days of each
    category code named, sorted by code. Malformed: a SettingError naming the entry."""
    return parse_hold_days(settings.portal_hold_days)


def parse_hold_days(text: str) -> tuple[int, tuple[tuple[str, int], ...]]:
    """`default=3,SP=7,…` as (default days, ((code, days), …)); see portal_hold_days."""
    example = "for example default=3,SP=7,GE=7,RAD=7"
    default = 0
    days: dict[str, int] = {}
    seen: set[str] = set()
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        match = _HOLD_ENTRY.fullmatch(entry)
        if match is None or int(match.group(2)) > MOST_HOLD_DAYS:
            raise SettingError(
                f"LIFELINE_PORTAL_HOLD_DAYS: {entry!r} is not a category code and 0 to {MOST_HOLD_DAYS} days"
                f" ({example})"
            )
        code, value = match.group(1), int(match.group(2))
        if code in seen:
            raise SettingError(f"LIFELINE_PORTAL_HOLD_DAYS names {code!r} twice ({example})")
        seen.add(code)
        if code == "default":
            default = value
        else:
            days[code] = value
    return default, tuple(sorted(days.items()))


# The request classes of admission control (web/admission.py), highest first.
REQUEST_CLASSES = ("clinical", "portal", "apps", "anonymous")
_CLASS_ENTRY = re.compile(r"([a-z]+)=([0-9]{1,6})")


def admission_shares(settings: Settings) -> dict[str, int]:
    """LIFELINE_ADMISSION_SHARES read: each class's percentage (1 to 100) of the requests in flight;
    a class not named keeps its default."""
    return _per_class("LIFELINE_ADMISSION_SHARES", settings.admission_shares, Settings.admission_shares, 1, 100)


def admission_waits(settings: Settings) -> dict[str, int]:
    """LIFELINE_ADMISSION_WAIT_MS read: how long each class's request may wait for a slot, in
    milliseconds (0: not at all, at most 60000); a class not named keeps its default."""
    return _per_class("LIFELINE_ADMISSION_WAIT_MS", settings.admission_wait_ms, Settings.admission_wait_ms, 0, 60000)


def _per_class(name: str, text: str, default: str, least: int, most: int) -> dict[str, int]:
    example = f"for example {default}"
    values: dict[str, int] = {}
    for entry in (part.strip() for part in f"{default},{text}".split(",")):
        if entry:
            match = _CLASS_ENTRY.fullmatch(entry)
            if match is None or match.group(1) not in REQUEST_CLASSES or not least <= int(match.group(2)) <= most:
                raise SettingError(
                    f"{name}: {entry!r} is not a class ({', '.join(REQUEST_CLASSES)}) and {least} to {most} ({example})"
                )
            values[match.group(1)] = int(match.group(2))
    named = [part.strip().partition("=")[0] for part in text.split(",") if part.strip()]
    twice = sorted({klass for klass in named if named.count(klass) > 1})
    if twice:
        raise SettingError(f"{name} names {twice[0]!r} twice ({example})")
    return values


RATE_LIMITS = ("rate_limit_anonymous", "rate_limit_login", "rate_limit_account", "rate_limit_app")
RATE_LIMIT_STORAGES = ("memory://", "redis://", "rediss://", "redis+unix://")


def rate_limits_of(settings: Settings) -> dict[str, tuple[RateLimitItem, ...]]:
    """The rate limits by setting name (`rate_limit_login`: its limits, none for `none`), read with
    the `limits` library's notation (`5/second;60/minute`); a SettingError names a bad one."""
    read: dict[str, tuple[RateLimitItem, ...]] = {}
    for name in RATE_LIMITS:
        text = getattr(settings, name).strip()
        if text.lower() == "none":
            read[name] = ()
            continue
        try:
            read[name] = tuple(parse_many(text))
        except ValueError:
            read[name] = ()
        if not read[name] or any(item.amount < 1 for item in read[name]):
            raise SettingError(
                f"{ENVIRONMENT[name]} must be limits such as 5/second;60/minute (a count per second, minute,"
                f" hour or day; several joined by ';'), or none, not {text!r}"
            )
    if not settings.rate_limit_storage.startswith(RATE_LIMIT_STORAGES):
        raise SettingError(
            "LIFELINE_RATE_LIMIT_STORAGE must be memory:// (this process) or a Redis URI such as"
            f" redis://127.0.0.1:6379 (shared by every process), not {settings.rate_limit_storage!r}"
        )
    return read


def issuer_of(settings: Settings) -> str:
    """This node's token issuer: the setting, else the origin of the public base URL, else
    the address `serve` listens on."""
    if settings.issuer:
        return settings.issuer.rstrip("/")
    if settings.base_url:
        parts = urlsplit(settings.base_url)
        return f"{parts.scheme}://{parts.netloc}"
    return f"http://{settings.host}:{settings.port}"


def to_environment(settings: Settings) -> dict[str, str]:
    """The LIFELINE_* variables that give `settings` back through from_environment: how `serve`
    hands its resolved options (command line over environment) to its worker processes."""
    values = {ENVIRONMENT[f.name]: str(getattr(settings, f.name)) for f in fields(Settings)}
    return {name: value for name, value in values.items() if value != ""}


def from_environment(environ: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from LIFELINE_* variables, then explicit overrides (CLI options) on top."""
    environ = dict(os.environ) if environ is None else environ
    for name, why in REMOVED.items():
        if environ.get(name):
            raise SettingError(f"{name} is no longer a setting: {why}; remove it from the environment")
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = environ.get(ENVIRONMENT[f.name])
        if raw is None or raw == "":
            continue
        if f.type in ("int", int):
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise SettingError(f"{ENVIRONMENT[f.name]} must be a whole number, not {raw!r}") from None
        elif f.type in ("float", float):
            try:
                values[f.name] = float(raw)
            except ValueError:
                raise SettingError(f"{ENVIRONMENT[f.name]} must be a number, not {raw!r}") from None
        else:
            values[f.name] = raw
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings(**values)  # type: ignore[arg-type]
    if settings.log_level not in ("info", "debug"):
        raise SettingError(f"LIFELINE_LOG_LEVEL must be info or debug, not {settings.log_level!r}")
    if settings.invariants not in ("warn", "strict", "off"):
        raise SettingError(f"LIFELINE_INVARIANTS must be warn, strict or off, not {settings.invariants!r}")
    if settings.empty_elements not in ("remove", "refuse"):
        raise SettingError(f"LIFELINE_EMPTY_ELEMENTS must be remove or refuse, not {settings.empty_elements!r}")
    if settings.threat_level not in ("normal", "elevated", "high"):
        raise SettingError(f"LIFELINE_THREAT_LEVEL must be normal, elevated or high, not {settings.threat_level!r}")
    if settings.role not in ("central", "site"):
        raise SettingError(f"LIFELINE_ROLE must be central or site, not {settings.role!r}")
    if settings.db_replica and not all(
        url.startswith(("postgresql://", "postgres://")) for url in (settings.db, settings.db_replica)
    ):
        raise SettingError(
            "LIFELINE_DB_REPLICA is a PostgreSQL streaming replica of LIFELINE_DB: both must be postgresql:// URLs"
        )
    if settings.role == "site":
        if not settings.central.startswith(("http://", "https://")):
            raise SettingError("a site node needs its centre's URL: --central http://... (LIFELINE_CENTRAL)")
        if not settings.site_credential.startswith(settings.node_id + "."):
            raise SettingError(
                f"a site node needs the credential `lifeline sites add {settings.node_id}` printed on the centre"
                " (LIFELINE_SITE_CREDENTIAL), and its site id (--site-id) must be the one it was issued for"
            )
        if settings.node_id == "central":
            raise SettingError("a site node needs its own site id: --site-id herlev (LIFELINE_NODE_ID)")
    for name in (
        "replication_poll_ms",
        "central_timeout_ms",
        "continuity_after_failures",
        "audit_review_days",
        "audit_burst_patients",
        "audit_retention_years",
        "pacs_timeout_ms",
        "image_cache_days",
        "statement_timeout_ms",
        "max_header_bytes",
        "keep_alive_seconds",
        "shutdown_seconds",
        "ready_timeout_ms",
        "admission_in_flight",
        "principal_in_flight",
    ):
        if getattr(settings, name) < 1:
            raise SettingError(f"{ENVIRONMENT[name]} must be at least 1")
    for name in ("pacs_url", "site_pacs_url"):
        url = getattr(settings, name)
        if url and not url.startswith(("http://", "https://")):
            raise SettingError(
                f"{ENVIRONMENT[name]} must be a DICOMweb base URL (http://host:port/dicom-web), not {url!r}"
            )
    if settings.request_read_seconds <= 0:
        raise SettingError("LIFELINE_REQUEST_READ_SECONDS must be more than 0")
    allowed_hosts_of(settings)  # a malformed LIFELINE_ALLOWED_HOSTS fails here, with the variable's name
    portal_hold_days(settings)  # and a malformed LIFELINE_PORTAL_HOLD_DAYS here
    admission_shares(settings)  # and LIFELINE_ADMISSION_SHARES, LIFELINE_ADMISSION_WAIT_MS here
    admission_waits(settings)
    rate_limits_of(settings)  # and a malformed rate limit or rate limit storage here
    trusted_proxies_of(settings)  # and a malformed LIFELINE_TRUSTED_PROXIES here
    return settings


def trusted_proxies_of(settings: Settings) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """LIFELINE_TRUSTED_PROXIES read: the networks of the reverse proxies in front of the node."""
    networks = []
    for entry in settings.trusted_proxies.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise SettingError(
                f"LIFELINE_TRUSTED_PROXIES: {entry!r} is not an address or a network (10.0.0.5, 10.0.0.0/24)"
            ) from None
    return tuple(networks)
