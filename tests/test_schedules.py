import numpy as np
import pytest

from jaxcollapse.engine.schedules import ScheduleError, evaluate_schedule, split_list


def test_constant_and_expressions():
    assert np.array_equal(evaluate_schedule(5, 3), [5, 5, 5, 5])
    assert np.allclose(evaluate_schedule("100*(t+1)**1.5", 2), 100 * np.arange(1, 4) ** 1.5)
    assert np.allclose(evaluate_schedule("max(t,1)**-0.5", 3), [1, 1, 2**-0.5, 3**-0.5])
    assert np.allclose(evaluate_schedule("min(t, 2) + sqrt(4) - log(exp(1))", 3), [1, 2, 3, 3])
    assert np.allclose(evaluate_schedule("-t + pi", 1), [np.pi, np.pi - 1])


@pytest.mark.parametrize(
    "text",
    ["__import__('os')", "t.real", "open('x')", "t if t else 1", "[t]", "lambda: 1", "x + 1", "max(t)", "1 +"],
)
def test_rejects_unsafe_or_invalid(text):
    with pytest.raises(ScheduleError):
        evaluate_schedule(text, 3)


def test_rejects_non_finite():
    with pytest.raises(ScheduleError, match="t=0"):
        evaluate_schedule("1/t", 3)


def test_split_list_respects_parentheses():
    assert split_list("10, max(t,1)**-0.5 ,3") == ["10", "max(t,1)**-0.5", "3"]
