"""The SdI's side of an e-invoice: after ``send`` its ``ei_status`` walks ``sent`` → ``processing``
→ the outcome (``accepted`` by default), on a clock tests can speed up or jump forward.

What the next sends will meet is set on the side channel (``POST /__sandbox__/sdi``); every status
change is written to the document and announced to the webhooks as
``it.fattureincloud.webhooks.issued_documents.e_invoices.status_update``. FiC's ``ei_status`` has no
"delivered": the SdI's receipt of delivery (and a PA's acceptance) is ``accepted`` there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from .events import STATUS_UPDATE
from .knobs import settings_from
from .state import State, now

log = logging.getLogger(__name__)

#: Where a send can end (FiC's ``ei_status`` values that the SdI or the customer decide).
OUTCOMES = ("accepted", "discarded", "not_delivered", "rejected", "no_response", "error")
#: Outcomes after which FiC lets the document be corrected and sent again.
RESENDABLE = ("discarded", "rejected", "error")
#: What the SdI says when nobody scripted a reason (error_reason's reason, code and solution).
DEFAULT_REASONS = {
    "discarded": ("00305 - La partita IVA del cessionario/committente non è valida.", "00305",
                  "Correggi i dati del cliente e invia di nuovo la fattura."),
    "rejected": ("La pubblica amministrazione ha rifiutato la fattura.", "EC02",
                 "Correggi la fattura come richiesto dall'ente e inviala di nuovo."),
    "not_delivered": ("Impossibile recapitare la fattura al destinatario: è a sua disposizione nell'area "
                      "riservata dell'Agenzia delle Entrate.", "MC",
                      "Informa il cliente che la fattura è nel suo cassetto fiscale."),
    "error": ("Si è verificato un errore durante l'invio allo SdI.", "ERR",
              "Riprova l'invio o contatta l'assistenza."),
}


def _positive_ms(value: Any) -> int:
    number = int(value)
    if number < 0:
        raise ValueError("a time in milliseconds is 0 or more")
    return number


@attrs.define
class SdiConfig:
    """What the next sends meet; ``sends`` (if set) is how many, then the happy path is back."""

    outcome: str = attrs.field(default="accepted", validator=attrs.validators.in_(OUTCOMES))
    reason: str | None = None
    code: str | None = None
    solution: str | None = None
    processing_ms: int = attrs.field(default=1000, converter=_positive_ms)
    after_ms: int = attrs.field(default=3000, converter=_positive_ms)
    sends: int | None = attrs.field(default=None, converter=attrs.converters.optional(int))


class SdiClock:
    """Sandbox seconds: the epoch now, then real time times ``speed``, plus whatever ``advance``
    added. Epoch-based so sends kept in a state file still come due after a restart."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.speed = 1.0
        self._base = time.monotonic()
        self._at_base = time.time()

    def now(self) -> float:
        with self._lock:
            return self._at_base + (time.monotonic() - self._base) * self.speed

    def set_speed(self, speed: float) -> None:
        if speed <= 0:
            raise ValueError("speed is more than 0")
        with self._lock:
            current = self._at_base + (time.monotonic() - self._base) * self.speed
            self._base, self._at_base, self.speed = time.monotonic(), current, float(speed)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._at_base += seconds


class Sdi:
    """Sends, their walk through the states, and the background thread that walks them."""

    def __init__(self, state: State, notify: Callable[[str, int], None]):
        self.state = state
        self.notify = notify  # (event type, document id): the webhooks' outbox
        self.clock = SdiClock()
        self.config = SdiConfig()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None
        with state.lock:
            in_flight = state.db.execute("SELECT 1 FROM sdi_sends WHERE status IN ('sent', 'processing')").fetchone()
        if in_flight:  # a restarted sandbox finishes the walks it had started
            self._ensure_thread()

    # -- side channel ------------------------------------------------------------------------

    def configure(self, values: dict) -> SdiConfig:
        """Replace what the next sends meet (keys left out go back to the default)."""
        clock = {key: values.pop(key) for key in ("speed", "advance_ms") if key in values}
        config = settings_from(SdiConfig, values, "SdI")
        with self._lock:
            self.config = config
        self.set_clock(clock)
        return config

    def set_clock(self, values: dict) -> None:
        if "speed" in values:
            self.clock.set_speed(float(values["speed"]))
        if "advance_ms" in values:
            self.clock.advance(_positive_ms(values["advance_ms"]) / 1000)
        self.advance()
        self._wake.set()

    def clear(self) -> None:
        with self._lock:
            self.config = SdiConfig()
        self.clock.set_speed(1.0)
        self._wake.set()

    # -- sending -----------------------------------------------------------------------------

    def record_send(self, document_id: int) -> dict:
        """Take one real send (the caller holds the state lock and has checked the document)."""
        with self._lock:
            config = self.config
            if config.sends is not None:
                remaining = config.sends - 1
                self.config = attrs.evolve(config, sends=remaining) if remaining > 0 else SdiConfig()
        reason, code, solution = DEFAULT_REASONS.get(config.outcome, (None, None, None))
        start = self.clock.now()
        stamp = now()
        # A quick scripted outcome still passes through processing, half-way.
        processing = config.processing_ms if config.processing_ms < config.after_ms else config.after_ms / 2
        with self.state.transaction() as db:
            cursor = db.execute(
                "INSERT INTO sdi_sends (document_id, at, status, outcome, processing_at, final_at, reason, code,"
                " solution, changed_at) VALUES (?, ?, 'sent', ?, ?, ?, ?, ?, ?, ?)",
                (document_id, stamp, config.outcome, start + processing / 1000, start + config.after_ms / 1000,
                 config.reason or reason,
                 config.code or code, config.solution or solution, stamp))
            db.execute("UPDATE documents SET ei_status='sent' WHERE id=?", (document_id,))
            send_id = cursor.lastrowid
        self.notify(STATUS_UPDATE, document_id)
        self._ensure_thread()
        self._wake.set()
        return {"id": send_id, "at": stamp}

    def latest(self, document_id: int) -> dict | None:
        with self.state.lock:
            row = self.state.db.execute("SELECT * FROM sdi_sends WHERE document_id=? ORDER BY id DESC LIMIT 1",
                                        (document_id,)).fetchone()
        return dict(row) if row else None

    def sends(self) -> list[dict]:
        with self.state.lock:
            rows = self.state.db.execute("SELECT * FROM sdi_sends ORDER BY id").fetchall()
        return [dict(row) for row in rows]

    # -- the walk ----------------------------------------------------------------------------

    def advance(self) -> float | None:
        """Move every send whose time has come; returns the sandbox time of the next change, if any."""
        moment = self.clock.now()
        changed: list[int] = []
        upcoming: list[float] = []
        with self.state.transaction() as db:
            for row in db.execute("SELECT * FROM sdi_sends WHERE status IN ('sent', 'processing')").fetchall():
                status = row["status"]
                if moment >= row["final_at"]:
                    status = row["outcome"]
                elif moment >= row["processing_at"] and status == "sent":
                    status = "processing"
                if status == row["status"]:
                    upcoming.append(row["processing_at"] if status == "sent" else row["final_at"])
                    continue
                db.execute("UPDATE sdi_sends SET status=?, changed_at=? WHERE id=?", (status, now(), row["id"]))
                latest = db.execute("SELECT MAX(id) FROM sdi_sends WHERE document_id=?",
                                    (row["document_id"],)).fetchone()[0]
                if latest == row["id"]:  # an older send never overwrites a newer one's state
                    db.execute("UPDATE documents SET ei_status=? WHERE id=?", (status, row["document_id"]))
                    changed.append(row["document_id"])
                if status == "processing":
                    upcoming.append(row["final_at"])
        for document_id in changed:
            self.notify(STATUS_UPDATE, document_id)
        return min(upcoming) if upcoming else None

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed.is_set():
                self._thread = threading.Thread(target=self._run, name="fic-sandbox-sdi", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.clear()  # before the step, so a send during it wakes the next one
            try:
                upcoming = self.advance()
            except Exception:  # the walk must survive a bad row; the log says which
                log.exception("SdI simulation step failed")
                self._wake.wait(1.0)  # and is tried again
                continue
            # Nothing to move: asleep until a send, a clock change or close() wakes it (a company's
            # thread waking every second cost a sandbox of a thousand companies 50 ms of CPU a second).
            wait = None if upcoming is None else max(0.0, (upcoming - self.clock.now()) / self.clock.speed) + 0.005
            self._wake.wait(wait)

    def close(self) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
