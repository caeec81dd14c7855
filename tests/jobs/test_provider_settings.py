"""Which provider a job uses, from the settings: fal with FAL_KEY (and FAL_MODELS' model ids),
the local provider without it; and the job settings' own checks."""

from __future__ import annotations

from io import BytesIO

import pytest
from PIL import Image

from medialab.billing.audit import check_ledger
from medialab.sandbox.fal import FalSandbox
from medialab.sandbox.telegram import BotApiSandbox
from medialab.services import Services
from medialab.settings import Settings, SettingsError

from .conftest import RunWorker
from .scenario import charged_request, operation, queued

USER = 5501


async def test_fal_models_replace_the_default_model_of_a_mode(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    request = await queued(services, await charged_request(services, telegram, USER))
    await run_worker(services.settings.with_overrides(fal={"models": (("generate", "fal-ai/flux/dev"),)}))

    assert [r.path for r in fal_sandbox.requests_to("POST")] == ["/fal-ai/flux/dev"]
    assert (await operation(services, request.operation_id)).job_state == "delivered"


async def test_without_a_fal_key_the_local_provider_makes_the_image(
    services: Services, telegram: BotApiSandbox, fal_sandbox: FalSandbox, run_worker: RunWorker
) -> None:
    request = await queued(services, await charged_request(services, telegram, USER, "upscale", photos=1))
    await run_worker(services.settings.with_overrides(fal={"key": None}))

    assert fal_sandbox.requests == []
    [sent] = telegram.calls("sendPhoto", chat_id=USER)
    assert Image.open(BytesIO(sent.files["photo"])).size == (320, 240)  # the 160x120 photo, doubled
    assert (await operation(services, request.operation_id)).job_state == "delivered"
    assert await check_ledger(services.sessions) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"FAL_MODELS": "generate"}, "FAL_MODELS: expected mode=model_id, got 'generate'"),
        ({"FAL_MODELS": "add_text=fal-ai/x"}, "FAL_MODELS: 'add_text' is not a mode fal runs"),
        ({"FAL_POLL_INTERVAL": "soon"}, "FAL_POLL_INTERVAL: must be a number of seconds, got 'soon'"),
        ({"JOB_RETRY_DELAY": "-1"}, "JOB_RETRY_DELAY: must be more than 0 and at most 600 seconds, got '-1'"),
    ],
)
def test_job_settings_refuse_wrong_values_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        Settings.from_env(env, env_file=None)


def test_job_settings_defaults_and_parsing() -> None:
    defaults = Settings.from_env({}, env_file=None)
    assert (defaults.fal.models, defaults.fal.poll_interval, defaults.jobs.retry_delay) == ((), 1.0, 5.0)
    parsed = Settings.from_env({"FAL_MODELS": " edit = fal-ai/a/b , upscale=fal-ai/c", "JOB_RETRY_DELAY": "0.5"},
                               env_file=None)
    assert parsed.fal.models == (("edit", "fal-ai/a/b"), ("upscale", "fal-ai/c"))
    assert parsed.jobs.retry_delay == 0.5
