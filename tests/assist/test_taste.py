"""Learning the engineer's taste: proposals converge to a simulated engineer's habits."""

from __future__ import annotations

import itertools
from pathlib import Path

from surfaced.assist.desk import Assistant
from surfaced.assist.taste import Taste
from surfaced.session import default_session

# The simulated engineer: always ends the vocal 2.5 dB over the untasted balance,
# the kick 1.5 dB under, the keys 0.2 further left; everything else as proposed.
HABITS = {7: (2.5, 0.0), 1: (-1.5, 0.0), 5: (0.0, -0.2)}


def test_proposals_converge_to_the_engineers_habits(tmp_path: Path) -> None:
    path = tmp_path / "taste.json"
    untasted: dict[int, tuple[float, float]] = {}
    errors = []
    for session_no in range(8):
        session = default_session()
        mixer = session.make_mixer()
        assistant = Assistant(mixer, session, taste_path=path)
        assistant.balance()
        proposal = {ch: (float(mixer.get(f"ch/{ch}/assist/level")),
                         float(mixer.get(f"ch/{ch}/assist/pan"))) for ch in HABITS}
        if session_no == 0:
            untasted = proposal
        want = {ch: (untasted[ch][0] + dl, untasted[ch][1] + dp)
                for ch, (dl, dp) in HABITS.items()}
        errors.append(max(max(abs(proposal[c][0] - want[c][0]), abs(proposal[c][1] - want[c][1]))
                          for c in HABITS))
        # The engineer mixes on top with their faders and pans, then the assistant learns.
        for ch in HABITS:
            fader = float(mixer.get(f"ch/{ch}/fader")) + want[ch][0] - proposal[ch][0]
            pan = float(mixer.get(f"ch/{ch}/pan")) + want[ch][1] - proposal[ch][1]
            mixer.apply({f"ch/{ch}/fader": fader, f"ch/{ch}/pan": pan}, "surface:desk")
        assistant.learn()
    assert errors[0] >= 2.4  # the first proposal knows nothing of them
    assert errors[-1] < 0.1  # by the end it proposes what they do
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(errors))
    habits = Taste.load(path).habits
    assert abs(habits["vocal"].level - 2.5) < 0.05 and habits["vocal"].count == 8


def test_the_profile_is_written_atomically_and_a_broken_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "t" / "taste.json"
    t = Taste.load(path)
    t.observe("vocal", 0.0, 2.0, 0.0)
    t.save()
    assert [p.name for p in path.parent.iterdir()] == ["taste.json"]  # no temporary left
    assert Taste.load(path).offset("vocal", 0.0) == (2.0, 0.0)
    path.write_text("{not json")
    try:
        Taste.load(path)
    except ValueError as exc:
        assert str(path) in str(exc)
    else:
        raise AssertionError("a broken profile must be refused")
