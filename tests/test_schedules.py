"""Learning-rate schedules."""

import math


def test_learning_rate_schedule():
    from latentseg.training.schedules import learning_rate_factor

    assert learning_rate_factor("constant", 0.7) == 1
    assert learning_rate_factor("cosine", 0.0) == 0.01 and learning_rate_factor("cosine", 0.05) == 1
    assert math.isclose(learning_rate_factor("cosine", 0.525), 0.5, abs_tol=1e-9)
    assert learning_rate_factor("cosine", 1.0) == 0.01
    assert learning_rate_factor("wsd", 0.0) == 0.01 and learning_rate_factor("wsd", 0.025) == 0.5
    assert learning_rate_factor("wsd", 0.05) == learning_rate_factor("wsd", 0.5) == 1, "stable at the peak"
    assert math.isclose(learning_rate_factor("wsd", 0.75), 0.5) and learning_rate_factor("wsd", 1.0) == 0.01
    assert learning_rate_factor("wsd", 0.7, decay=0.2) == 1 and math.isclose(learning_rate_factor("wsd", 0.9, decay=0.2), 0.5)
