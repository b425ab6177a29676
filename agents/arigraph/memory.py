"""AriGraph memory: a semantic triplet graph, episodic vertices with hyperedges, and spatial edges.

G = (V_s, E_s, V_e, E_e) [AP §2]: semantic vertices are the subjects and objects of the stored
triplets; each episodic vertex is one observation, and its hyperedge links it to every triplet
extracted from it. The update rule [AP §2 "Constructing AriGraph"; A:graphs/contriever_graph.py]:

1. candidates = stored triplets one hop (exact match) around the vertices of the new triplets, minus
   those naming a protected word (navigation, tool use, recipes);
2. a detector (LLM or rules, passed in) says which candidates are outdated; what it names that is not a
   candidate (not shown to it, protected, or not stored) is ignored and reported as rejected;
3. outdated triplets are deleted, except edges between two known locations;
4. a move that changed the location adds two spatial edges;
5. the new triplets are added (deduplicated, embedded once).

The episodic vertex is written after retrieval (:meth:`AriGraphMemory.write_episode`). Nothing
here calls an LLM; embeddings come from the encoder given at construction. :meth:`AriGraphMemory.query`
answers a question with both searches, from the known vertices the question names, and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agents.arigraph import navigation
from agents.arigraph.extract import rules_entities
from agents.arigraph.retrieval import Encoder, VectorIndex, episodic_rank, episodic_relevance, semantic_search
from agents.arigraph.triplets import Triplet, compass_in, from_text
from lab.core.memory import refuse, unknown
from lab.core.records import MemEdge, MemNode, MemoryEdit, MemorySnapshot, MemRecord

EDITS = ("remove a triplet (t<N>), a vertex with its triplets (v:<name>) or an observation (e:<step>); "
         "add a triplet ('subject, relation, object'); change a triplet's text or an observation's text")

Detector = Callable[[list[Triplet], list[Triplet]], list[Triplet]]
"""``detector(candidates, new) -> outdated``: the outdated-triplet judgement (LLM or rules). ``new`` is every
triplet of the observation, or only those not stored yet when the detector has a true ``unstored_only`` (the
LLM's refining call, as the reference); a ``rejected`` list on the detector is read after each call."""
SEMANTIC_TITLE = "Information from the memory module that can be relevant to the current situation"
QUERY_DEPTH = 2
"""BFS depth of the entities a question names (the depth the agent gives the entities of its plan)."""


def sections_text(sections: Sequence[tuple[str, str]]) -> str:
    """Prompt sections as the memory's text: ``title: body`` blocks separated by blank lines."""
    return "\n\n".join(f"{title}: {body}" for title, body in sections)


def episodic_title(k: int) -> str:
    """The title of the episodic section."""
    return f"Your {k} most relevant episodic memories from the past"


@dataclass
class Edge:
    """A stored triplet and its life span."""

    triplet: Triplet
    id: str
    added_step: int
    removed_step: int | None = None


@dataclass
class Episode:
    """An episodic vertex: one observation and the triplets extracted from it (its hyperedge)."""

    step: int
    text: str
    triplets: set[str]


@dataclass
class UpdateReport:
    """What one update did (shown per step in the lab)."""

    new: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    outdated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    spatial: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    """The detector's unreadable chunks and the outdated triplets it named that were not candidates."""


class AriGraphMemory:
    """The graph store with its update rule, both searches, exploration and navigation."""

    def __init__(
        self,
        encoder: Encoder,
        *,
        width: int = 6,
        threshold: float = 0.4,
        protected: Sequence[str] = ("west", "east", "south", "north", "associated with", "used for", "to be"),
        embed_episodes: bool = False,
        topk_episodic: int = 2,
    ) -> None:
        self.encoder, self.width, self.threshold = encoder, width, threshold
        self.protected, self.embed_episodes = tuple(protected), embed_episodes
        self.topk_episodic = topk_episodic
        self.clear()

    def clear(self) -> None:
        """Forget everything (a new trial: the paper's memory lives within one episode)."""
        self.active: dict[Triplet, Edge] = {}
        self.edges: list[Edge] = []
        self.by_text: dict[str, Triplet] = {}
        self.locations: set[str] = set()
        self.episodes: list[Episode] = []
        self.triplet_index = VectorIndex(self.encoder)
        self.vertex_index = VectorIndex(self.encoder)
        self.episode_index = VectorIndex(self.encoder)
        self.retrieved: list[str] = []
        self.top_episodes: list[int] = []
        self.prompt_text = ""

    # --- update -------------------------------------------------------------------------

    def triplets(self) -> list[Triplet]:
        """The stored (active) triplets, oldest first."""
        return list(self.active)

    def fact_triplets(self) -> list[Triplet]:
        """The facts the graph holds, for the lab's fidelity metric (``FactMemory``): its semantic triplets as
        they are (spatial edges included); the episodic vertices are observations, not facts."""
        return self.triplets()

    def associated(self, vertices: set[str]) -> list[Triplet]:
        """Stored triplets with a vertex in ``vertices`` (one hop, exact match)."""
        return [t for t in self.active if t.subject in vertices or t.object in vertices]

    def candidates(self, new: list[Triplet]) -> list[Triplet]:
        """Step 1: the triplets the new ones may make outdated."""
        vertices = {v for t in new for v in t.vertices()}
        return [t for t in self.associated(vertices) if not any(w in t.text for w in self.protected)]

    def update(
        self,
        new: list[Triplet],
        step: int,
        detector: Detector,
        move: tuple[str | None, str, str] | None = None,
    ) -> UpdateReport:
        """Steps 1-5 of the update rule; ``move`` is ``(previous location, location, action)``."""
        new = list(dict.fromkeys(t for t in new if t.relation != "free"))
        fresh = [t for t in new if t not in self.active]
        report = UpdateReport(new=[t.text for t in fresh])
        candidates = self.candidates(new) if new else []
        report.candidates = [t.text for t in candidates]
        shown = fresh if getattr(detector, "unstored_only", False) else new
        named: list[Triplet] = []
        if candidates and shown:
            named = list(dict.fromkeys(detector(candidates, shown)))
            report.rejected = list(getattr(detector, "rejected", []))
        allowed = set(candidates)
        outdated = [t for t in named if t in allowed]
        report.rejected += [f"{t.text} (not a candidate)" for t in named if t not in allowed]
        report.outdated = [t.text for t in outdated]
        for t in outdated:
            if not (t.subject in self.locations and t.object in self.locations):
                self.remove(t, step)
                report.deleted.append(t.text)
        spatial = navigation.spatial_edges(*move) if move else []
        report.spatial = [t.text for t in spatial if t not in self.active]
        self.add(new + spatial, step)
        return report

    def add(self, triplets: list[Triplet], step: int) -> None:
        """Store triplets not yet present; their strings and new vertices are embedded in one batch each."""
        fresh = [t for t in dict.fromkeys(triplets) if t not in self.active]
        for t in fresh:
            edge = Edge(t, f"t{len(self.edges)}", step)
            self.active[t], self.by_text[t.text] = edge, t
            self.edges.append(edge)
        self.triplet_index.add([t.text for t in fresh])
        self.vertex_index.add([v for t in fresh for v in t.vertices()])

    def remove(self, triplet: Triplet, step: int) -> None:
        """Delete a triplet (it stays in the snapshot, marked removed at ``step``)."""
        edge = self.active.pop(triplet)
        edge.removed_step = step
        self.by_text.pop(triplet.text, None)
        self.triplet_index.remove(triplet.text)

    # --- retrieval ------------------------------------------------------------------------

    def semantic_search(self, entities: dict[str, int]) -> list[str]:
        """Triplet strings found by the embedding BFS from every entity (depth = its score) [AP Alg. 2]."""
        return semantic_search(
            entities,
            self.triplet_index,
            self.vertex_index,
            lambda text: self.by_text[text].vertices(),
            self.width,
            self.threshold,
        )

    def episodic_search(
        self,
        retrieved: set[str],
        k: int,
        plan: str | None = None,
        skip: Callable[[Episode], bool] = lambda e: False,
    ) -> list[Episode]:
        """The top-k episodic vertices by the paper's formula (plus plan similarity when ``plan`` is set)."""
        relevance = episodic_relevance([e.triplets for e in self.episodes], retrieved)
        similarity = None
        if plan is not None and self.episodes:
            rows = self.episode_index.vectors([e.text for e in self.episodes])  # (E, D)
            similarity = (rows @ self.encoder.encode([plan])[0]).tolist()
        ranked = episodic_rank(relevance, similarity, k, lambda i: skip(self.episodes[i]))
        return [self.episodes[i] for i in ranked]

    def sections(self, triplets: list[str], episodes: list[Episode]) -> list[tuple[str, str]]:
        """The memory's prompt sections: retrieved triplets, then episodes [A:pipeline_arigraph.py]."""
        return [
            (SEMANTIC_TITLE, "; ".join(triplets) or "(nothing relevant)"),
            (episodic_title(self.topk_episodic), "\n---\n".join(e.text for e in episodes) or "(none)"),
        ]

    def query(self, question: str) -> str:
        """Both searches for a question: the known vertices it names are the entities (depth 2), and the
        episodic vertices are scored by the triplets found. No LLM is called and nothing is written or
        embedded (every vertex was embedded when its triplet entered the graph)."""
        vertices = sorted({v for t in self.active for v in t.vertices()})
        entities = {v: QUERY_DEPTH for v in rules_entities(question, "", vertices)}
        found = self.semantic_search(entities)
        episodes = self.episodic_search(set(found), self.topk_episodic)
        return sections_text(self.sections(found, episodes))

    def write_episode(self, step: int, text: str, triplets: list[Triplet]) -> Episode:
        """Add the episodic vertex of an observation and its hyperedge (after retrieval, as the paper)."""
        episode = Episode(step, text, {t.text for t in triplets})
        self.episodes.append(episode)
        if self.embed_episodes:
            self.episode_index.add([text])
        return episode

    def mark(self, retrieved: list[str], episodes: list[Episode], prompt_text: str) -> None:
        """Remember what this step retrieved and put in the prompt (highlighted in the snapshot)."""
        self.retrieved, self.top_episodes, self.prompt_text = (
            retrieved,
            [e.step for e in episodes],
            prompt_text,
        )

    # --- space ----------------------------------------------------------------------------

    def path(self, start: str, target: str) -> list[str] | str:
        """``go <dir>`` commands of a shortest known path, or the error observation."""
        return navigation.find_path(
            navigation.moves(self.active, self.locations), start, target, self.locations
        )

    def unexplored(self) -> dict[str, list[str]]:
        """Unexplored exits of every visited location."""
        triplets = self.triplets()
        return {loc: navigation.unexplored_exits(loc, triplets) for loc in sorted(self.locations)}

    # --- edits (forks) ---------------------------------------------------------------------

    def edit(self, edit: MemoryEdit, step: int) -> list[str]:
        """A fork's edit (:class:`~lab.core.protocols.EditableMemory`): a removed triplet stays in the
        snapshot marked removed at ``step``, as the update rule's deletions do."""
        if edit.op == "add":
            triplet = self._triplet(edit)
            if triplet in self.active:
                return []
            self.add([triplet], step)
            return [self.active[triplet].id]
        if edit.attrs:
            raise refuse("arigraph", edit, EDITS)
        if edit.id.startswith("e:"):
            episode = next((e for e in self.episodes if f"e:{e.step}" == edit.id), None)
            if episode is None:
                raise unknown("arigraph", edit, [f"e:{e.step}" for e in self.episodes])
            if edit.op == "remove":
                self.episodes.remove(episode)
                self.episode_index.remove(episode.text)
            else:
                if not edit.text:
                    raise refuse("arigraph", edit, EDITS)
                self.episode_index.remove(episode.text)
                episode.text = edit.text
                if self.embed_episodes:
                    self.episode_index.add([edit.text])
            return [edit.id]
        if edit.id.startswith("v:") and edit.op == "remove":
            touched = self.associated({edit.id[2:]})
            if not touched:
                raise unknown("arigraph", edit, sorted({f"v:{v}" for t in self.active for v in t.vertices()}))
            ids = [self.active[t].id for t in touched]
            for t in touched:
                self.remove(t, step)
            return [edit.id, *ids]
        edge = next((e for e in self.edges if e.id == edit.id and e.removed_step is None), None)
        if edge is None:
            raise unknown("arigraph", edit, [e.id for e in self.edges if e.removed_step is None])
        triplet = self._triplet(edit) if edit.op == "change" else None  # checked before anything changes
        self.remove(edge.triplet, step)
        if triplet is None:
            return [edge.id]
        self.add([triplet], step)
        return [edge.id, self.active[triplet].id]

    @staticmethod
    def _triplet(edit: MemoryEdit) -> Triplet:
        triplet = from_text(edit.text)
        if triplet is None:
            raise refuse("arigraph", edit, EDITS + " (a triplet is three comma-separated parts)")
        return triplet

    # --- view -----------------------------------------------------------------------------

    def snapshot(self) -> MemorySnapshot:
        """Vertices (room, object, inventory), triplets (semantic, spatial), episodic vertices and links."""
        nodes: dict[str, MemNode] = {}
        edges: list[MemEdge] = []
        for edge in self.edges:
            t = edge.triplet
            for vertex in t.vertices():
                self._vertex(nodes, vertex, edge)
            spatial = t.subject in self.locations and t.object in self.locations and compass_in(t.relation)
            edges.append(
                MemEdge(
                    id=edge.id,
                    source=f"v:{t.subject}",
                    target=f"v:{t.object}",
                    kind="spatial" if spatial else "semantic",
                    label=t.relation,
                    attrs={"triplet": t.text},
                    added_step=edge.added_step,
                    removed_step=edge.removed_step,
                )
            )
        records, known = [], {key[2:] for key in nodes if key.startswith("v:")}
        for e in self.episodes:
            nodes[f"e:{e.step}"] = MemNode(
                id=f"e:{e.step}",
                kind="episodic",
                label=f"observation {e.step}",
                attrs={"triplets": sorted(e.triplets)},
                added_step=e.step,
            )
            records.append(MemRecord(id=f"e:{e.step}", kind="episodic", text=e.text, added_step=e.step))
            for vertex in sorted({v for text in e.triplets for v in text.split(", ")[::2]} & known):
                edges.append(
                    MemEdge(
                        id=f"h:{e.step}:{vertex}",
                        source=f"e:{e.step}",
                        target=f"v:{vertex}",
                        kind="episodic",
                        added_step=e.step,
                    )
                )
        ids = {self.active[self.by_text[t]].id for t in self.retrieved if t in self.by_text}
        retrieved = sorted(ids) + [f"e:{s}" for s in self.top_episodes]
        return MemorySnapshot(
            nodes=list(nodes.values()),
            edges=edges,
            records=records,
            prompt_text=self.prompt_text,
            retrieved=retrieved,
        )

    def _vertex(self, nodes: dict[str, MemNode], name: str, edge: Edge) -> None:
        node = nodes.get(f"v:{name}")
        kind = "room" if name in self.locations else "inventory" if name == "inventory" else "object"
        alive = edge.removed_step is None
        if node is None:
            nodes[f"v:{name}"] = MemNode(
                id=f"v:{name}",
                kind=kind,
                label=name,
                added_step=edge.added_step,
                removed_step=None if alive else edge.removed_step,
            )
        elif alive:
            node.removed_step = None
        elif node.removed_step is not None:
            node.removed_step = max(node.removed_step, edge.removed_step or 0)
