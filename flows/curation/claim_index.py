"""Grade events by claim and by study, kept up to date with only the events appended since the last look.

The web app looks at the grades files on every request. With 25,000 events in a project and five
curators grading at once, every action saw a changed file (someone else's append), and re-filtering
all events for the claim and replaying all of its studies was most of an action's CPU. Here each
file's events are indexed once; a later read of the same file generation (journal.JournalFile: only
appended to since) indexes just the new tail, and only the studies those new events touch are
replayed again (flows.curation.review.decisions and standing_events, study by study).

Anything else is indexed whole again, and all of its studies replayed: a file read from its start
(replaced, shrunk, rewritten in place, its curator's role changed: a new generation), a new file, a
file gone or quarantined. Behaviour equals reading and replaying everything afresh
(tests/test_claim_index.py checks it against review.Replayed).

Not thread-safe: the caller serialises update() and the reads (flows.web.data holds its cache lock).
What it hands out (lists, Replayed) is never changed afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flows.curation.events import GradeEvent
from flows.curation.journal import JournalFile, JournalFiles
from flows.curation.review import Key, Replayed, StudyDecisions, decisions, standing_events

Standing = dict[tuple[str, str, str], GradeEvent]


@dataclass
class _FileIndex:
    """One file's events (as read, one generation), by claim and by study, in file order."""

    generation: int
    events: Sequence[GradeEvent] = ()  # all of them, as the journal read them
    count: int = 0  # how many of them are indexed
    claims: dict[str, list[GradeEvent]] = field(default_factory=dict)
    studies: dict[Key, list[GradeEvent]] = field(default_factory=dict)

    def extend(self, new: Iterable[GradeEvent]) -> set[Key]:
        """Index `new` (the file's events after the first `count`); the studies they touch."""
        touched: set[Key] = set()
        for event in new:
            key = (event.claim, event.pmid)
            self.claims.setdefault(event.claim, []).append(event)
            self.studies.setdefault(key, []).append(event)
            touched.add(key)
            self.count += 1
        return touched


@dataclass
class _ClaimReplay:
    """One claim's replay: its table and standing decisions, and the studies changed since."""

    roles: frozenset[str]
    table: dict[Key, StudyDecisions]
    standing: Standing
    by_study: dict[Key, dict[str, GradeEvent]]  # study → curator → standing decision
    stale: set[Key] = field(default_factory=set)
    replayed: Replayed | None = None  # handed out as is until a study of the claim changes


class EventIndex:
    """Every healthy grades file's events, indexed per claim and study; see the module docstring."""

    def __init__(self) -> None:
        self._files: dict[Path, _FileIndex] = {}
        self._order: tuple[Path, ...] = ()  # journal order: curator files by path
        self._claim_events: dict[str, list[GradeEvent]] = {}  # concatenated per claim, on demand
        self._replays: dict[str, _ClaimReplay] = {}

    def update(self, journals: JournalFiles) -> None:
        """Bring the index to `journals` (a fresh journal.read_journal_files)."""
        changed: set[Key] = set()
        files: dict[Path, _FileIndex] = {}
        for journal in journals.files:
            files[journal.path] = self._file(journal, changed)
        for path, gone in self._files.items():
            if path not in files:  # removed, or quarantined: its grades no longer count
                changed.update(gone.studies)
        self._files = files
        self._order = tuple(journal.path for journal in journals.files)
        for claim in {claim for claim, _ in changed}:
            self._claim_events.pop(claim, None)
        for key in changed:
            replay = self._replays.get(key[0])
            if replay is not None:
                replay.stale.add(key)
                replay.replayed = None

    def _file(self, journal: JournalFile, changed: set[Key]) -> _FileIndex:
        known = self._files.get(journal.path)
        same = known is not None and known.generation == journal.generation
        if known is not None and same and len(journal.events) >= known.count:
            changed.update(known.extend(journal.events[known.count :]))
            known.events = journal.events
            return known
        if known is not None:  # read from its start again: whatever it said before may be gone
            changed.update(known.studies)
        fresh = _FileIndex(journal.generation, journal.events)
        changed.update(fresh.extend(journal.events))
        return fresh

    def events(self) -> list[GradeEvent]:
        """Every event, in journal.read_events order (a new list)."""
        out: list[GradeEvent] = []
        for path in self._order:
            out.extend(self._files[path].events)
        return out

    def claim_events(self, claim: str) -> list[GradeEvent]:
        """The claim's events in journal.read_events order (shared: not to be changed)."""
        found = self._claim_events.get(claim)
        if found is None:
            found = []
            for path in self._order:
                found.extend(self._files[path].claims.get(claim, ()))
            self._claim_events[claim] = found
        return found

    def study_events(self, key: Key) -> list[GradeEvent]:
        """One study's events in journal.read_events order."""
        out: list[GradeEvent] = []
        for path in self._order:
            out.extend(self._files[path].studies.get(key, ()))
        return out

    def replayed(self, claim: str, adjudicators: Iterable[str]) -> Replayed:
        """review.Replayed(claim_events(claim), adjudicators), replaying only the studies changed
        since the last call for this claim (all of them the first time, or when the roles changed)."""
        roles = frozenset(adjudicators)
        replay = self._replays.get(claim)
        if replay is None or replay.roles != roles:
            replay = self._replays[claim] = self._fresh_replay(claim, roles)
        elif replay.stale:
            self._replay_stale(replay)
        if replay.replayed is None:
            events = self.claim_events(claim)
            replay.replayed = Replayed.prepared(events, roles, replay.table, replay.standing)
        return replay.replayed

    def _fresh_replay(self, claim: str, roles: frozenset[str]) -> _ClaimReplay:
        whole = Replayed(self.claim_events(claim), roles)
        by_study: dict[Key, dict[str, GradeEvent]] = {}
        for (c, pmid, who), event in whole.standing.items():
            by_study.setdefault((c, pmid), {})[who] = event
        return _ClaimReplay(roles, whole.table, whole.standing, by_study, replayed=whole)

    def _replay_stale(self, replay: _ClaimReplay) -> None:
        # New dicts, not changed in place: a Replayed handed out earlier may still be in use.
        table, standing = dict(replay.table), dict(replay.standing)
        for key in replay.stale:
            claim, pmid = key
            for who in replay.by_study.pop(key, {}):
                del standing[(claim, pmid, who)]
            timeline = self.study_events(key)
            table.pop(key, None)
            table.update(decisions(timeline, replay.roles))
            mine = standing_events(timeline)
            standing.update(mine)
            if mine:
                replay.by_study[key] = {who: event for (_, _, who), event in mine.items()}
        replay.table, replay.standing = table, standing
        replay.stale = set()
