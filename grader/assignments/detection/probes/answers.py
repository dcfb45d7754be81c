"""Probe of the written answers: the text of ``ANSWERS.md``, for the reviewer."""

from __future__ import annotations

from pathlib import Path


ANSWERS_FILE = "ANSWERS.md"
ANSWER_QUESTIONS = 3
MAX_ANSWER_CHARS = 6000


def written_answers(pkg) -> dict:
    """Read ``ANSWERS.md`` from the package's folder: ``{"answers": [text of question 1, 2, 3]}``
    (the text under each ``## Question k`` heading, the question's own lines and the placeholder
    left out; at most 6000 characters each). Not attempted when the file is missing or no
    question has an answer."""
    path = Path(pkg.__file__).resolve().parent / ANSWERS_FILE
    if not path.is_file():
        raise NotImplementedError(f"no {ANSWERS_FILE} in your package (it comes with the stubs: write your answers "
                                  f"there)")
    if path.stat().st_size > 1024 * 1024:
        raise ValueError(f"{ANSWERS_FILE} is larger than 1 MiB")
    text = path.read_text(encoding="utf-8", errors="replace")
    sections: dict[int, list[str]] = {}
    current = None
    for line in text.splitlines():
        head = line.strip().lower()
        if head.startswith("## question"):
            words = head[len("## question"):].strip().split()
            number = words[0].rstrip(".:)") if words else ""
            current = int(number) if number.isdigit() and 1 <= int(number) <= ANSWER_QUESTIONS else None
            if current is not None:
                sections.setdefault(current, [])
            continue
        if current is not None:
            sections[current].append(line)
    answers = []
    for k in range(1, ANSWER_QUESTIONS + 1):
        lines = [line for line in sections.get(k, []) if not line.lstrip().startswith(">")]  # the question
        body = "\n".join(lines).replace(ANSWER_PLACEHOLDER, "").strip()
        answers.append(body[:MAX_ANSWER_CHARS])
    if not any(answers):
        raise NotImplementedError(f"no written answers yet: write them in {ANSWERS_FILE} under each question")
    return {"answers": answers}


ANSWER_PLACEHOLDER = "*Your answer here.*"
