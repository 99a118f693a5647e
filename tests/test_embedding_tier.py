"""The embedding tier's stored kernel heads and its window reading of long texts."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVC

from watchkeeper.detectors.content_safety.detector import (
    ARTIFACTS_DIR,
    HEADS,
    ContentSafetyDetector,
    ContentSafetySettings,
)
from watchkeeper.detectors.content_safety.embedding_features import (
    FEATURE_DIM,
    MAX_WINDOWS,
    KernelHeads,
    WindowEmbedder,
    WindowFeatures,
)
from watchkeeper.detectors.content_safety.text_features import ArtifactError
from watchkeeper.detectors.content_safety.training import TrainOptions, embedding_available, fit_kernel_heads


def _blobs(n: int = 240, d: int = FEATURE_DIM, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    labels = np.full((n, len(HEADS)), np.nan)
    labels[:, 0] = (x[:, 0] > 0).astype(float)  # hate: one direction
    labels[: n // 2, 1] = (x[: n // 2, 1] * x[: n // 2, 2] > 0).astype(float)  # harassment: half labelled
    labels[:, -1] = np.maximum(labels[:, 0], np.nan_to_num(labels[:, 1]))
    return x, labels


def test_stored_kernel_heads_reproduce_the_fitted_svms() -> None:
    """The shipped arrays (float16 support set shared by heads) score like the sklearn SVMs they came from."""
    x, labels = _blobs()
    opts = TrainOptions()
    heads = KernelHeads.from_arrays(list(HEADS), fit_kernel_heads(x, labels, opts).to_arrays())
    probe = np.random.default_rng(9).normal(size=(50, x.shape[1])).astype(np.float32)
    probe /= np.linalg.norm(probe, axis=1, keepdims=True)
    margins = heads.margins(probe)
    for h in (0, 1, len(HEADS) - 1):
        known = ~np.isnan(labels[:, h])
        svm = SVC(C=opts.c_embedding, gamma=opts.gamma_embedding, class_weight="balanced")
        svm.fit(x[known], labels[known, h].astype(int))
        np.testing.assert_allclose(margins[:, h], svm.decision_function(probe), atol=2e-3)
    # a head without labels scores a constant "no", never a crash
    assert np.ptp(margins[:, 2]) == 0.0 and margins[0, 2] < 0


def test_a_text_scores_as_its_worst_window_and_subsets_keep_their_windows() -> None:
    x, labels = _blobs()
    heads = fit_kernel_heads(x, labels, TrainOptions())
    by_row = heads.predict_proba(x)
    hot, cold = int(np.argmax(by_row[:, 0])), int(np.argmin(by_row[:, 0]))
    # text 0: one window; text 1: a cold average whose second window is the hot row; text 2: two cold windows
    features = WindowFeatures(
        texts=x[[cold, cold, cold]],
        windows=x[[cold, cold, hot, cold, cold]],
        owner=np.array([0, 1, 1, 2, 2]),
    )
    scores = heads.score(features)
    assert scores[1, 0] == pytest.approx(by_row[hot, 0], abs=1e-5)
    assert scores[0, 0] == pytest.approx(by_row[cold, 0], abs=1e-5)
    assert scores[2, 0] == pytest.approx(by_row[cold, 0], abs=1e-5)
    part = features.subset(np.array([2, 1]))
    assert part.owner.tolist() == [1, 1, 0, 0]
    np.testing.assert_allclose(heads.score(part), scores[[2, 1]])


def test_kernel_heads_with_mismatched_arrays_are_refused_with_the_shapes() -> None:
    x, labels = _blobs()
    arrays = fit_kernel_heads(x, labels, TrainOptions()).to_arrays()
    arrays["dual"] = arrays["dual"][:, :3]
    with pytest.raises(ValueError, match="do not match"):
        KernelHeads.from_arrays(list(HEADS), arrays)


def test_corrupt_embedding_artifact_names_the_file_and_the_rebuild(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for name in ("fast_heads.npz", "thresholds.json"):
        (tmp_path / name).write_bytes((ARTIFACTS_DIR / name).read_bytes())
    np.savez(tmp_path / "embedding_heads.npz", vectors=np.zeros((2, 4)), dual=np.zeros((2, 1)))
    with pytest.raises(ArtifactError, match=r"embedding_heads\.npz.*watchkeeper train content-safety"):
        ContentSafetyDetector(ContentSafetySettings(tier="embedding", artifacts_dir=str(tmp_path)))


needs_encoder = pytest.mark.skipif(not embedding_available(), reason="optional embedding extra not installed")


@pytest.fixture(scope="module")
def embedder() -> WindowEmbedder:
    return WindowEmbedder()


@needs_encoder
def test_window_features_do_not_depend_on_the_batch(embedder: WindowEmbedder) -> None:
    """A text's features are the same alone or batched with others of other lengths (padding, ownership)."""
    long_text = " ".join(f"Sentence {i} of a long and harmless answer about gardening." for i in range(60))
    texts = ["Short answer.", long_text, "Another short one, a little longer than the first."]
    together = embedder.transform(texts)
    assert together.texts.shape == (3, FEATURE_DIM)
    assert np.bincount(together.owner).tolist()[0] == 1 and np.bincount(together.owner)[1] > 3
    for i, text in enumerate(texts):
        alone = embedder.transform([text])
        np.testing.assert_allclose(together.texts[i], alone.texts[0], atol=1e-5)
        np.testing.assert_allclose(together.windows[together.owner == i], alone.windows, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together.texts, axis=1), 1.0, atol=1e-5)


@needs_encoder
def test_a_huge_answer_costs_a_bounded_number_of_windows(embedder: WindowEmbedder) -> None:
    huge = "word " * 40_000  # ~40k tokens: hundreds of windows uncapped
    features = embedder.transform(["tiny", huge])
    assert (features.owner == 0).sum() == 1
    assert (features.owner == 1).sum() == MAX_WINDOWS
    empty = embedder.transform([])
    assert empty.texts.shape == (0, FEATURE_DIM) and len(empty.owner) == 0


@pytest.mark.slow
@pytest.mark.skipif(not embedding_available(), reason="optional embedding extra not installed")
def test_a_threat_at_the_end_of_a_long_answer_is_read() -> None:
    """The encoder reads 256 tokens; the tier reads every window and keeps the worst, so a threat after 2 KB
    of harmless prose moves the kernel heads themselves (a whole-text average left it at the clean level and
    the tier missed it), and the tier flags the answer."""
    detector = ContentSafetyDetector(ContentSafetySettings(tier="embedding"))
    prose = (
        "The committee reviewed the quarterly budget, the new office lease and the hiring plan for the "
        "support team, and agreed to revisit the travel policy after the audit. "
    ) * 14
    threat = (
        "I know where you live, and tonight I am going to break into your house and kill you and your "
        "whole family with a knife."
    )
    violence = HEADS.index("violence")
    heads = detector.model.embedding
    assert heads is not None
    kernel = heads.score(WindowEmbedder().transform([prose, prose + threat]))
    assert kernel[1, violence] > kernel[0, violence] + 0.2, kernel[:, violence]
    assert not detector.score_text(prose)[1]
    scores, flagged = detector.score_text(prose + threat)
    assert flagged and scores["violence"] >= detector.thresholds["violence"], scores
