"""The records that travel through the platform, one typed definition per concept.

- ``Fact``: one kinematic fact of a segment, with its unit and valid range; ``FACTS`` lists
  them all. The describers read them, the catalogue stores them, Serve's request model is
  built from them (``serve/app.py``).
- ``Session``: one animal in one recording, as analysis makes it and the catalogue keeps it.
- ``Cluster``: one cluster of a discovery run.
- ``Hit`` and ``ListedSegment``: a segment as search answers it and as a listing shows it.

The catalogue's tables are declared from these fields (``store``), so a record written is the
record read: a misspelt field is a ``TypeError`` where the record is built, never a NULL
stored silently. Each field that is a column names its SQL type in its metadata.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

# -- facts ------------------------------------------------------------------------------------


@attrs.frozen
class Fact:
    """One per-segment kinematic fact.

    Attributes
    ----------
    name : str
        Column name, ending in its unit where it has one.
    unit : str
        Unit: mm, mm/s, deg, deg/s, Hz, ratio, fraction, or the categories of a categorical fact.
    meaning : str
        What it measures, for people and for prompts.
    minimum : float or None
        Smallest valid value, if any.
    above_minimum : bool
        The value must be strictly above ``minimum``.
    required : bool
        Every behaviour decision reads it, so a client of the Serve API must give it.
    choices : tuple of str
        The categories of a categorical fact (empty for a number).
    default : float or None
        What a client that leaves it out means (None: not measured).
    """

    name: str
    unit: str
    meaning: str
    minimum: float | None = None
    above_minimum: bool = False
    required: bool = False
    choices: tuple[str, ...] = ()
    default: float | None = None

    @property
    def sql(self) -> str:
        """Its catalogue column type."""
        return "VARCHAR" if self.choices else "DOUBLE"


IMMOBILE_MM_S = 15.0
"""Body-centre speed below which a frame counts as immobile, mm/s."""

ZONES = ("wall", "centre", "corner")
"""The open-field zones, as ``kinematics`` names them."""

FACTS: tuple[Fact, ...] = (
    Fact("speed_mean_mm_s", "mm/s", "mean body-centre speed", minimum=0, required=True),
    Fact("speed_max_mm_s", "mm/s", "highest body-centre speed", minimum=0, required=True),
    Fact("displacement_mm", "mm", "straight-line distance from the window's first to last position"),
    Fact(
        "body_length_mm",
        "mm",
        "mean nose-to-tail-base length (seen from the camera: shorter when rearing)",
        minimum=0,
        above_minimum=True,
        required=True,
    ),
    Fact(
        "body_length_ratio",
        "ratio",
        "body_length_mm over the session's stretched length (85th percentile)",
        minimum=0,
        above_minimum=True,
        required=True,
    ),
    Fact(
        "body_length_ratio_min",
        "ratio",
        "10th percentile of the length within the window over the stretched length",
    ),
    Fact(
        "heading_change_deg",
        "deg",
        "net change of heading, positive clockwise seen from above",
        required=True,
    ),
    Fact(
        "angular_speed_deg_s",
        "deg/s",
        "mean absolute turning rate of the heading",
        minimum=0,
        required=True,
    ),
    Fact("head_yaw_std_deg", "deg", "standard deviation of head yaw (head direction relative to the torso)"),
    Fact("head_yaw_abs_deg", "deg", "median absolute head yaw"),
    Fact("head_motion_hz", "Hz", "dominant frequency of head yaw", minimum=0, required=True),
    Fact(
        "head_speed_mm_s",
        "mm/s",
        "mean nose speed relative to the body centre",
        minimum=0,
        required=True,
    ),
    Fact(
        "head_yaw_fast_deg",
        "deg",
        "root-mean-square of head yaw's fast part (8 Hz and above: twitches, tremor), "
        "measured before smoothing; empty below 16 fps",
    ),
    Fact("immobile_fraction", "fraction", f"frames with body-centre speed below {IMMOBILE_MM_S:g} mm/s"),
    Fact("wall_distance_mm", "mm", "mean distance from the body centre to the nearest wall"),
    Fact("zone", "|".join(ZONES), "most frequent open-field zone", choices=ZONES),
    Fact("visible_fraction", "fraction", "frames with a body position", default=1.0),
)
"""Every per-segment fact the describer reads, in column order. Directions are as seen from
above (a bottom view is mirrored first), see ``kinematics``. A fact is NaN (``zone``: None)
where the window has too few positions to measure it."""

FACT_BY_NAME: dict[str, Fact] = {f.name: f for f in FACTS}


# -- catalogue columns ------------------------------------------------------------------------


def column(sql: str, default: Any = None, **kwargs) -> Any:
    """An attrs field that is a catalogue column of type ``sql`` (None by default)."""
    return attrs.field(default=default, metadata={"sql": sql}, **kwargs)


def columns(record: type) -> dict[str, str]:
    """The catalogue columns of a record class: field name -> SQL type, in field order."""
    return {f.name: f.metadata["sql"] for f in attrs.fields(record) if "sql" in f.metadata}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _positive(instance: Any, field: attrs.Attribute, value: Any) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{type(instance).__name__}.{field.name} must be positive, got {value!r}")


def _json(value: Any) -> str | None:
    """A JSON column's text: a dict or list dumped, a string (already JSON) kept."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


# -- session ----------------------------------------------------------------------------------

VIEWS = ("top", "bottom")
SOURCES = ("video", "pose", "video+pose")


@attrs.frozen(kw_only=True)
class Session:
    """One animal in one recording: an input, or one individual of a multi-animal pose file.

    The field order is the catalogue's column order (columns added by migrations come last).

    Attributes
    ----------
    session_id : str
        The input's content hash (``store.content_hash``), suffixed per individual.
    video, pose : str or None
        Where the input was read from (a path or URL).
    animal, condition, individual : str or None
        Labels: the animal's name, the experimental condition, the pose file's name for it.
    fps : float
        Frames per second.
    px_per_mm : float or None
        Image scale, pixels per mm; None when unknown (facts are then in pixels).
    px_per_mm_source : str or None
        Where the scale came from (the manifest, the arena's size, ...).
    view : str
        ``top`` or ``bottom``.
    n_frames : int
        Frames analysed.
    duration_s : float
        ``n_frames / fps``, seconds.
    source : str
        ``video``, ``pose`` or ``video+pose``.
    model : str or None
        The describer that described it (set when its shard is written).
    arena, qc, settings : str or None
        JSON: the arena's geometry, the quality report (``qc.QCReport``), and the settings the
        session was made with (``changes.settings``). A dict given is dumped.
    added_at : datetime or None
        When the catalogue committed it (set by the catalogue).
    """

    session_id: str = column("VARCHAR PRIMARY KEY")
    video: str | None = column("VARCHAR")
    pose: str | None = column("VARCHAR")
    animal: str | None = column("VARCHAR")
    condition: str | None = column("VARCHAR")
    fps: float = column("DOUBLE", converter=float, validator=_positive)
    px_per_mm: float | None = column("DOUBLE", converter=_optional_float, validator=_positive)
    px_per_mm_source: str | None = column("VARCHAR")
    view: str = column("VARCHAR", "top", validator=attrs.validators.in_(VIEWS))
    n_frames: int = column("BIGINT", converter=int)
    duration_s: float = column("DOUBLE", converter=float)
    source: str = column("VARCHAR", validator=attrs.validators.in_(SOURCES))
    model: str | None = column("VARCHAR")
    arena: str | None = column("VARCHAR", converter=_json)
    added_at: Any = column("TIMESTAMP")
    individual: str | None = column("VARCHAR")
    qc: str | None = column("VARCHAR", converter=_json)
    settings: str | None = column("VARCHAR", converter=_json)

    def to_dict(self) -> dict:
        """Its fields as a dict (JSON-ready but for ``added_at``)."""
        return attrs.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> Session:
        """A session from a dict of its fields (a shard's metadata, a catalogue row); a field
        it lacks (a shard from before that field) is None, an unknown one is a ``TypeError``.
        """
        return cls(**values)


# -- discovery --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Cluster:
    """One cluster of a discovery run (``mousegpt discover``).

    Attributes
    ----------
    cluster_id : int
        Its number within the run.
    name : str
        A vocabulary behaviour's keyword (with its zone), or "unlabelled: ..." naming the facts
        that set it apart.
    keywords : list of str
        The keywords that say most about it.
    size : int
        Segments in it.
    behavior : str or None
        The vocabulary behaviour it is, if any.
    novel : bool
        Mostly outliers, and moving unlike every behaviour of the vocabulary.
    outlier_fraction : float
        Share of its segments that are outliers, 0 to 1.
    size_by_condition : dict of str to int
        Segments per experimental condition ("unknown" where none was given).
    exemplars : list of str
        Segment ids of its most typical members.
    """

    cluster_id: int = column("INTEGER", converter=int)
    name: str = column("VARCHAR")
    keywords: list[str] = column("VARCHAR[]", converter=list)
    size: int = column("BIGINT", converter=int)
    behavior: str | None = column("VARCHAR")
    novel: bool = column("BOOLEAN", converter=bool)
    outlier_fraction: float = column("DOUBLE", converter=float)
    size_by_condition: dict[str, int] = column(
        "VARCHAR", converter=lambda v: json.loads(v) if isinstance(v, str) else dict(v)
    )
    exemplars: list[str] = column("VARCHAR[]", converter=list)

    def to_dict(self) -> dict:
        """Its fields as a JSON-ready dict."""
        return attrs.asdict(self)

    def row(self, run_id: int) -> list:
        """Its row of the catalogue's ``clusters`` table (``size_by_condition`` as JSON)."""
        return [run_id, *(_json(v) if isinstance(v, dict) else v for v in attrs.astuple(self, recurse=False))]

    @classmethod
    def from_row(cls, row: dict) -> Cluster:
        """A cluster from a row of the ``clusters`` table (its ``run_id`` left out)."""
        return cls(**{k: v for k, v in row.items() if k != "run_id"})


CLUSTER_COLUMNS = {"run_id": "INTEGER", **columns(Cluster)}
"""The catalogue's ``clusters`` table: the run, then a ``Cluster``'s fields."""


# -- search -----------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A float, or None for a missing value (SQL NULL or NaN)."""
    return None if value is None or value != value else float(value)


@attrs.frozen(kw_only=True)
class Moment:
    """A segment as people read it: where it is, what the describer said, how sure it was.

    Attributes
    ----------
    segment_id, session_id : str
        The segment and its session.
    video, pose, animal, condition : str or None
        Its session's files and labels.
    start_s, end_s : float
        Its window within the session, seconds.
    behavior : str or None
        The vocabulary behaviour the describer chose.
    description : dict
        The five fields: ``overall``, ``head``, ``limbs``, ``torso`` and ``keywords`` (a list).
    confidence : float or None
        The describer's probability for ``behavior``; None where it gave none.
    uncertain : bool
        ``confidence`` is below the threshold (``describe.model.is_uncertain``).
    """

    segment_id: str
    session_id: str
    video: str | None = None
    pose: str | None = None
    animal: str | None = None
    condition: str | None = None
    start_s: float = attrs.field(converter=float)
    end_s: float = attrs.field(converter=float)
    behavior: str | None = None
    description: dict = attrs.field(factory=dict)
    confidence: float | None = attrs.field(default=None, converter=_number)
    uncertain: bool = False

    @staticmethod
    def _common(row: dict, uncertain: bool) -> dict:
        return {
            "segment_id": row["segment_id"],
            "session_id": row["session_id"],
            "video": row.get("video"),
            "pose": row.get("pose"),
            "animal": row.get("animal"),
            "condition": row.get("condition"),
            "start_s": row["start_s"],
            "end_s": row["end_s"],
            "behavior": row["behavior"],
            "description": {
                "overall": row["overall"],
                "head": row["head"],
                "limbs": row["limbs"],
                "torso": row["torso"],
                "keywords": [] if row["keywords"] is None else list(row["keywords"]),
            },
            "confidence": row["confidence"],
            "uncertain": uncertain,
        }

    def to_dict(self) -> dict:
        """Its fields as a JSON-ready dict (the design's search and listing fields)."""
        return attrs.asdict(self, recurse=False)


HIT_COLUMNS = (
    "segment_id",
    "vec_id",
    "session_id",
    "start_s",
    "end_s",
    "behavior",
    "confidence",
    "overall",
    "head",
    "limbs",
    "torso",
    "keywords",
)
"""The segment columns a hit is made from (with its session's ``SESSION_LABELS``)."""

SESSION_LABELS = ("video", "pose", "animal", "condition")
"""What a hit or a listed segment shows of its session."""


@attrs.frozen(kw_only=True)
class Hit(Moment):
    """A segment search found, with its cosine similarity to the query (``score``, -1 to 1)."""

    score: float = attrs.field(converter=lambda v: round(float(v), 4))

    @classmethod
    def from_row(cls, row: dict, score: float, uncertain: bool) -> Hit:
        """A hit from a snapshot row (``HIT_COLUMNS`` and ``SESSION_LABELS``)."""
        return cls(**cls._common(row, uncertain), score=score)


@attrs.frozen(kw_only=True)
class ListedSegment(Moment):
    """A segment as ``mousegpt segments`` lists it: with the describer's probabilities and
    the latest discovery run's cluster (None when it has none).
    """

    probs: dict[str, float] = attrs.field(factory=dict)
    cluster_id: int | None = None

    @classmethod
    def from_row(cls, row: dict, uncertain: bool) -> ListedSegment:
        """A listed segment from a catalogue row (segment columns and ``SESSION_LABELS``)."""
        cluster = _number(row.get("cluster_id"))
        return cls(
            **cls._common(row, uncertain),
            probs=json.loads(row["probs"]) if row.get("probs") else {},
            cluster_id=None if cluster is None else int(cluster),
        )
