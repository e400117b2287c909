"""Crash safety: SIGKILL a block-connecting child process at random moments, at least 20
times; after every kill the stored UTXO set must equal a replay of the stored tip's chain."""

from __future__ import annotations

from wattchain.node.crashcheck import run_trials


def test_sigkill_at_random_moments_keeps_utxo_set_consistent(tmp_path) -> None:
    stats = run_trials(tmp_path, n_trials=24, seed=7)
    assert not stats.failures, "\n".join(stats.failures)
    assert stats.trials == 24 and stats.kills >= 20
    assert len(stats.tips_seen) > 3  # kills landed at many different heights
