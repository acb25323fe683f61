"""FiC's webhooks, played locally: subscriptions with their verification challenge, and events
delivered as CloudEvents with an ``Authorization: Bearer`` ES256 JWT, at least once.

As FiC documents it (developers.fattureincloud.it/docs/webhooks): the verification is a GET with
``x-fic-verification-challenge`` (header or query) answered by ``{"verification": <value>}``; an
event is a POST with ``ce-id``, ``ce-type``, ``ce-subject`` ("company:<id>"), ``ce-source``, ``ce-time``,
``ce-specversion`` and the body ``{"data": {"ids": [...]}}`` (binary mode), or everything in one JSON
body (structured mode). The JWT carries jti = ce-id, iss, sub, aud = [sink], iat, exp (3 h), aid.
5xx and connection errors are retried (4 attempts in all, growing pause), any other error drops
the event, 410 deletes the subscription. Faults (duplicates, reordering, delay) come from the side
channel so a receiver can be proved to dedupe by ce-id and to tolerate order.
"""

from __future__ import annotations

import base64
import logging
import random
import secrets
import threading
import time
import uuid
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import attrs
import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from . import jsonio
from .events import EVENT_TYPES, GROUPS, WELCOME
from .knobs import probability, settings_from
from .state import State, now

log = logging.getLogger(__name__)

ISSUER = SOURCE = "https://api-v2.fattureincloud.it"
MAX_ATTEMPTS = 4
TIMEOUT = 5.0  # FiC's "short timeout": a slow receiver is a failed delivery
VERIFY_WAIT = 3.0
REORDER_WINDOW = 0.2  # under ``reorder``, events this close together are delivered newest first
LOG_LIMIT = 5000


class Refused(ValueError):
    """A subscription request FiC would refuse (the message says why)."""


@attrs.define
class WebhookFaults:
    duplicate_rate: float = attrs.field(default=0.0, converter=probability)  # delivered again, same ce-id
    reorder: bool = attrs.field(default=False, converter=bool)  # events waiting together go newest first
    delay_ms: int = attrs.field(default=0, converter=int)  # every event waits this long first
    retry_ms: int = attrs.field(default=500, converter=int)  # first pause before a retry; doubles
    paused: bool = attrs.field(default=False, converter=bool)  # hold every event until unpaused
    seed: int | None = None


@attrs.define
class Delivery:
    ce_id: str
    type: str
    ids: list
    time: str
    subscription_id: int
    not_before: float
    seq: int
    attempt: int = 0
    duplicate: bool = False


class Webhooks:
    """Subscriptions (in the state), the signing key, the outbox and the thread that empties it."""

    def __init__(self, state: State, company_id: int, app_id: str):
        self.state = state
        self.company_id = company_id
        self.app_id = app_id
        self.faults = WebhookFaults()
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._outbox: list[Delivery] = []
        self._log: list[dict] = []
        self._logged = 0
        self._seq = 0
        self._thread: threading.Thread | None = None
        self._key = self._load_key()

    # -- the signing key ---------------------------------------------------------------------

    def _load_key(self) -> ec.EllipticCurvePrivateKey:
        """One P-256 key per sandbox state: a restarted demo keeps the key its shop was told."""
        pem = self.state.meta("webhook_private_key")
        if pem is None:
            key = ec.generate_private_key(ec.SECP256R1())
            pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
            self.state.set_meta("webhook_private_key", pem)
        return serialization.load_pem_private_key(pem.encode(), password=None)  # type: ignore[return-value]

    def public_key_pem(self) -> str:
        return self._key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def public_key(self) -> dict:
        pem = self.public_key_pem()
        return {"algorithm": "ES256", "issuer": ISSUER, "pem": pem,
                "base64": base64.b64encode(pem.encode()).decode()}  # FiC publishes the PEM in base64

    def token(self, jti: str, sink: str, lifetime: int = 3 * 3600) -> str:
        issued = int(time.time())
        claims = {"jti": jti, "iss": ISSUER, "sub": f"company:{self.company_id}", "aud": [sink],
                  "iat": issued, "exp": issued + lifetime, "aid": self.app_id}
        return jwt.encode(claims, self._key, algorithm="ES256")

    # -- subscriptions -----------------------------------------------------------------------

    def subscriptions(self) -> list[dict]:
        with self.state.lock:
            rows = self.state.db.execute("SELECT * FROM subscriptions ORDER BY id").fetchall()
        return [self._row(row) for row in rows]

    def subscription(self, subscription_id: int) -> dict | None:
        with self.state.lock:
            row = self.state.db.execute("SELECT * FROM subscriptions WHERE id=?", (subscription_id,)).fetchone()
        return self._row(row) if row else None

    @staticmethod
    def _row(row: Any) -> dict:
        return {"id": f"SUB{row['id']}", "sink": row["sink"], "verified": bool(row["verified"]),
                "types": jsonio.loads(row["types"]), "config": {"mapping": row["mapping"]},
                "verification_method": row["verification_method"]}

    @staticmethod
    def check_sink(sink: Any) -> str:
        """FiC refuses HTTP sinks; the sandbox lets plain HTTP through only to this machine."""
        if not isinstance(sink, str) or not sink.strip():
            raise Refused("Il campo data.sink è obbligatorio (l'URL HTTPS che riceve le notifiche).")
        parts = urlsplit(sink.strip())
        local = (parts.hostname or "") in ("127.0.0.1", "localhost", "::1") or (parts.hostname or "").endswith(
            ".localhost")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise Refused(f"L'URL {sink} non è valido: usare HTTPS.")
        return sink.strip()

    def expand(self, types: Any, exclude: int | None = None) -> tuple[list[str], list[str]]:
        """(types to keep, warnings): groups exploded; unknown types and types another subscription
        already holds are dropped with a warning, as FiC does."""
        if not isinstance(types, list) or not types:
            raise Refused("Il campo data.types è obbligatorio (un elenco di tipi di evento).")
        taken = {t for sub in self.subscriptions() if sub["id"] != f"SUB{exclude}" for t in sub["types"]}
        kept: list[str] = []
        warnings: list[str] = []
        for requested in types:
            for event_type in GROUPS.get(requested, [requested]):
                if event_type not in EVENT_TYPES:
                    warnings.append(f"The '{event_type}' event type does not exist")
                elif event_type in taken:
                    warnings.append(f"The '{event_type}' event is already registered for this application")
                elif event_type not in kept:
                    kept.append(event_type)
        if not kept:
            raise Refused("Nessun tipo di evento valido: " + "; ".join(warnings))
        return kept, warnings

    def create(self, data: dict) -> tuple[dict, list[str]]:
        sink = self.check_sink(data.get("sink"))
        types, warnings = self.expand(data.get("types"))
        method = self.verification_method(data)
        mapping = (data.get("config") or {}).get("mapping") or "binary"
        if mapping not in ("binary", "structured"):
            raise Refused(f"config.mapping {mapping!r} non valido: binary o structured.")
        with self.state.transaction() as db:
            cursor = db.execute("INSERT INTO subscriptions (sink, types, verified, verification_method, mapping,"
                                " created_at) VALUES (?, ?, 0, ?, ?, ?)",
                                (sink, jsonio.dumps(types), method, mapping, now()))
            subscription_id = cursor.lastrowid
        self._verify_soon(subscription_id, method)
        return self.subscription(subscription_id), warnings  # type: ignore[return-value]

    def _verify_soon(self, subscription_id: int, method: str) -> None:
        """Verify in a thread and wait a little: a receiver served by the very process that is
        subscribing (one thread) would otherwise wait for itself; then the answer says unverified
        and the verification completes right after."""
        worker = threading.Thread(target=self.verify, args=(subscription_id, method), daemon=True,
                                  name="fic-sandbox-verify")
        worker.start()
        worker.join(VERIFY_WAIT)

    def modify(self, subscription_id: int, data: dict) -> tuple[dict, list[str]]:
        current = self.subscription(subscription_id)
        assert current is not None
        warnings: list[str] = []
        sink, types = current["sink"], current["types"]
        if data.get("types") is not None:
            types, warnings = self.expand(data["types"], exclude=subscription_id)
        moved = data.get("sink") is not None and data["sink"] != sink
        if moved:
            sink = self.check_sink(data["sink"])
        mapping = (data.get("config") or {}).get("mapping") or current["config"]["mapping"]
        with self.state.transaction() as db:
            db.execute("UPDATE subscriptions SET sink=?, types=?, mapping=?, verified=? WHERE id=?",
                       (sink, jsonio.dumps(types), mapping, 0 if moved else int(current["verified"]),
                        subscription_id))
        if moved:  # a new sink must prove itself again
            self._verify_soon(subscription_id, self.verification_method(data))
        return self.subscription(subscription_id), warnings  # type: ignore[return-value]

    def delete(self, subscription_id: int) -> None:
        with self.state.transaction() as db:
            db.execute("DELETE FROM subscriptions WHERE id=?", (subscription_id,))

    @staticmethod
    def verification_method(data: dict) -> str:
        method = data.get("verification_method") or "header"
        if method not in ("header", "query"):
            raise Refused(f"verification_method {method!r} non valido: header o query.")
        return method

    def verify(self, subscription_id: int, method: str) -> bool:
        """FiC's verification GET; a verified subscription gets its welcome event."""
        subscription = self.subscription(subscription_id)
        if subscription is None:
            return False
        sink, challenge = subscription["sink"], secrets.token_hex(32)
        headers = {"User-Agent": "FattureInCloud/API-WEBHOOK",
                   "Authorization": f"Bearer {self.token(str(uuid.uuid4()), sink)}"}
        params = {}
        if method == "query":
            params["x-fic-verification-challenge"] = challenge
        else:
            headers["x-fic-verification-challenge"] = challenge
        try:
            answer = requests.get(sink, headers=headers, params=params, timeout=TIMEOUT)
            verified = answer.status_code == 200 and answer.json().get("verification") == challenge
        except (requests.RequestException, ValueError, AttributeError):
            verified = False
        self._record({"kind": "verification", "subscription_id": subscription["id"], "sink": sink,
                      "verified": verified})
        if verified:
            with self.state.transaction() as db:
                db.execute("UPDATE subscriptions SET verified=1 WHERE id=?", (subscription_id,))
            self._enqueue(WELCOME, [], only=subscription_id)
        return verified

    # -- events ------------------------------------------------------------------------------

    def emit(self, event_type: str, ids: list) -> None:
        """An event happened: one delivery per verified subscription that asked for its type."""
        self._enqueue(event_type, ids)

    def _enqueue(self, event_type: str, ids: list, only: int | None = None) -> None:
        verified = [int(s["id"][3:]) for s in self.subscriptions()
                    if s["verified"] and (only is not None or event_type in s["types"])]
        targets = [target for target in verified if only is None or target == only]
        if not targets:
            return
        stamp = datetime.now().astimezone().isoformat(timespec="seconds")
        with self._lock:
            delay = self.faults.delay_ms / 1000 or (REORDER_WINDOW if self.faults.reorder else 0.0)
            for target in targets:
                self._seq += 1
                self._outbox.append(Delivery(ce_id=f"{self._seq}:{uuid.uuid4()}", type=event_type, ids=list(ids),
                                             time=stamp, subscription_id=target,
                                             not_before=time.monotonic() + delay, seq=self._seq))
        self._ensure_thread()
        self._wake.set()

    def configure(self, values: dict) -> WebhookFaults:
        faults = settings_from(WebhookFaults, values, "webhook")
        with self._lock:
            self.faults, self._rng = faults, random.Random(faults.seed)
        self._wake.set()
        return faults

    def deliveries(self) -> dict:
        with self._lock:
            return {"faults": attrs.asdict(self.faults), "pending": len(self._outbox), "deliveries": list(self._log)}

    def forget(self) -> None:
        """``/__sandbox__/reset``: no pending events, an empty log."""
        with self._lock:
            self._outbox.clear()
            self._log.clear()
            self._logged = 0

    def _record(self, entry: dict) -> None:
        with self._lock:
            self._logged += 1
            self._log.append({"n": self._logged, "at": now(), **entry})
            del self._log[:-LOG_LIMIT]

    def _due(self) -> tuple[list[Delivery], float | None]:
        """Deliveries whose time has come (newest first under ``reorder``) and when the next one is."""
        with self._lock:
            if self.faults.paused:
                return [], None
            moment = time.monotonic()
            horizon = moment
            if self.faults.reorder and any(d.not_before <= moment for d in self._outbox):
                horizon += REORDER_WINDOW  # the ones just behind go out with it, newest first
            due = [d for d in self._outbox if d.not_before <= horizon]
            self._outbox = [d for d in self._outbox if d.not_before > horizon]
            upcoming = min((d.not_before for d in self._outbox), default=None)
            due.sort(key=lambda d: d.seq, reverse=self.faults.reorder)
        return due, upcoming

    def _deliver(self, delivery: Delivery) -> None:
        subscription = self.subscription(delivery.subscription_id)
        if subscription is None:
            return  # deleted meanwhile: FiC stops sending too
        delivery.attempt += 1
        sink = subscription["sink"]
        headers = {"User-Agent": "FattureInCloud/API-WEBHOOK", "Connection": "close",
                   "Authorization": f"Bearer {self.token(delivery.ce_id, sink)}"}
        attributes = {"id": delivery.ce_id, "source": SOURCE, "specversion": "1.0", "type": delivery.type,
                      "subject": f"company:{self.company_id}", "time": delivery.time}
        if subscription["config"]["mapping"] == "structured":
            headers["Content-Type"] = "application/cloudevents+json"
            body = {**attributes, "datacontenttype": "application/json", "data": {"ids": delivery.ids}}
        else:
            headers["Content-Type"] = "application/json"
            headers.update({f"ce-{key}": value for key, value in attributes.items()})
            body = {"data": {"ids": delivery.ids}}
        status: int | None = None
        error = None
        try:
            status = requests.post(sink, data=jsonio.dumps(body), headers=headers, timeout=TIMEOUT).status_code
        except requests.RequestException as exc:
            error = type(exc).__name__
        self._record({"kind": "event", "subscription_id": subscription["id"], "sink": sink, "ce_id": delivery.ce_id,
                      "type": delivery.type, "ids": delivery.ids, "attempt": delivery.attempt, "status": status,
                      "error": error, "duplicate": delivery.duplicate})
        with self._lock:
            faults, roll = self.faults, self._rng.random()
        if status is not None and 200 <= status < 300 or status == 102:
            if roll < faults.duplicate_rate and not delivery.duplicate:
                self._requeue(attrs.evolve(delivery, attempt=0, duplicate=True), 0.0)
        elif status == 410:
            self.delete(delivery.subscription_id)
        elif (status is None or status >= 500) and delivery.attempt < MAX_ATTEMPTS:
            self._requeue(delivery, faults.retry_ms / 1000 * 2 ** (delivery.attempt - 1))

    def _requeue(self, delivery: Delivery, pause: float) -> None:
        delivery.not_before = time.monotonic() + pause
        with self._lock:
            self._outbox.append(delivery)
        self._wake.set()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._run, name="fic-sandbox-webhooks", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.clear()
            due, upcoming = self._due()
            for delivery in due:
                if self._closed.is_set():
                    return
                try:
                    self._deliver(delivery)
                except Exception:  # one bad delivery must not stop the others
                    log.exception("webhook delivery failed")
            if not due:
                wait = 1.0 if upcoming is None else max(0.0, upcoming - time.monotonic())
                self._wake.wait(min(wait, 1.0) + 0.005)

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT + 1)
            self._thread = None
