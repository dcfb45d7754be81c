"""What grading produces: a ``CheckResult`` per check and a ``ComponentResult`` per rubric
component (its points, its status, a reviewer's override), with their JSON form."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


@dataclass
class CheckResult:
    id: str
    component: str
    description: str
    status: str
    score: float
    max_score: float
    message: str
    visibility: str
    seconds: float = 0.0
    attachments: list = field(default_factory=list)
    output: str = ""  # tail of what the code under test printed (bounded)

    def to_dict(self) -> dict:
        d = {
            "name": self.id, "description": self.description, "status": self.status,
            "score": round(self.score, 4), "max_score": round(self.max_score, 4), "message": self.message,
            "visibility": self.visibility, "seconds": round(self.seconds, 3), "attachments": list(self.attachments),
        }
        if self.output:
            d["output"] = self.output
        return d


@dataclass
class ComponentResult:
    assignment: str
    name: str
    max_score: float
    bonus: bool = False
    manual: bool = False
    checks: list[CheckResult] = field(default_factory=list)
    override: Optional[dict] = None

    @property
    def overridden(self) -> bool:
        """A reviewer set this component's score (a remark alone changes nothing)."""
        return self.override is not None and "score" in self.override

    @property
    def automatic_score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def score(self) -> float:
        override = self.override  # ``overridden``, spelt out so that mypy narrows the Optional
        return float(override["score"]) if override is not None and "score" in override else self.automatic_score

    @property
    def status(self) -> str:
        if self.overridden:
            return "passed" if self.score >= self.max_score - 1e-9 else "failed"
        statuses = {c.status for c in self.checks}
        if self.manual or not statuses:
            return "pending_review"
        if statuses == {"passed"}:
            return "passed"
        if statuses == {"not_attempted"}:
            return "not_attempted"
        return "failed"

    def to_dict(self) -> dict:
        d = {
            "assignment": self.assignment, "name": self.name, "score": round(self.score, 4),
            "max_score": round(self.max_score, 4), "bonus": self.bonus, "manual": self.manual,
            "status": self.status, "checks": [c.to_dict() for c in self.checks],
        }
        if self.override is not None:
            d["override"] = self.override
        return d
