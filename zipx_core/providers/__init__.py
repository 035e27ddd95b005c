from zipx_core.providers.base import (
    Capabilities,
    ContentPolicyRejected,
    DownloadRejected,
    HostedProvider,
    Job,
    ProviderError,
    RequestRejected,
    RetryPolicy,
    SubmissionUnknown,
    TaskFailed,
    VideoProvider,
)
from zipx_core.providers.happyhorse import HappyHorseProvider
from zipx_core.providers.kling import KlingProvider
from zipx_core.providers.local import LocalRenderer
from zipx_core.providers.seedance import SeedanceProvider
from zipx_core.providers.veo import VeoProvider

HOSTED = {cls.name: cls for cls in (VeoProvider, KlingProvider, SeedanceProvider, HappyHorseProvider)}
CAPABILITIES = {name: cls.capabilities for name, cls in HOSTED.items()}

__all__ = [
    "CAPABILITIES", "HOSTED", "Capabilities", "ContentPolicyRejected", "DownloadRejected", "HappyHorseProvider",
    "HostedProvider", "Job", "KlingProvider", "LocalRenderer", "ProviderError", "RequestRejected", "RetryPolicy",
    "SeedanceProvider", "SubmissionUnknown", "TaskFailed", "VeoProvider", "VideoProvider",
]
