"""Closed-form values of the arc-cosine recursion at depth >= 2, written out by hand."""
import numpy as np
import pytest

from ntkpaths import theory


def _next_angle(theta: float) -> float:
    """One ReLU layer: the degree-1 arc-cosine kernel (Cho & Saul 2009), normalised,
    cos theta' = (sin theta + (pi - theta) cos theta) / pi."""
    return float(np.arccos((np.sin(theta) + (np.pi - theta) * np.cos(theta)) / np.pi))


def test_opposite_inputs_become_orthogonal_then_meet_at_arccos_one_over_pi():
    """theta = pi: cos theta_2 = (0 + 0) / pi = 0, so theta_2 = pi/2; then cos theta_3 = 1/pi."""
    np.testing.assert_allclose(theory.arccos_angles(np.pi, 4)[:3], [np.pi, np.pi / 2, np.arccos(1 / np.pi)],
                               rtol=1e-12)


@pytest.mark.parametrize("angle", [np.pi / 8, np.pi / 2, 7 * np.pi / 8, np.pi])
def test_every_layer_applies_the_arc_cosine_map(angle):
    got = theory.arccos_angles(angle, 6)
    expected = [angle]
    for _ in range(5):
        expected.append(_next_angle(expected[-1]))
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.all(np.diff(got) < 0)  # ReLU layers pull inputs together


def test_joint_activation_at_depth_two_and_three():
    """P(both on) = prod_l (pi - theta_l) / (2 pi): at theta = pi, 0 at depth 1 then 0 for every depth;
    at theta = pi/2, 1/4 then 1/4 (pi - arccos(1/pi)) / (2 pi)."""
    np.testing.assert_allclose(theory.joint_active(3, np.pi), [0.0, 0.0, 0.0], atol=1e-15)
    second = (np.pi - np.arccos(1 / np.pi)) / (2 * np.pi)
    np.testing.assert_allclose(theory.joint_active(2, np.pi / 2), [0.25, 0.25 * second], rtol=1e-12)
