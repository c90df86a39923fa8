import pytest

from latentseg.bench import inference_rates
from latentseg.models import build_model


def test_inference_rates_time_every_model_side_by_side():
    models = {name: build_model(name, num_classes=4) for name in ("seed", "unet")}
    rates = inference_rates(models, size=16, batch_size=2, repeats=2)
    assert set(rates) == {"seed", "unet"} and all(rate > 0 for rate in rates.values())
    assert not any(model.training for model in models.values()), "timed in eval mode"
    with pytest.raises(ValueError, match="size"):
        inference_rates(models, size=0)
