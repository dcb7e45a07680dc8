"""`every(setting)`: nameko's timer, its interval one of the WUSHE settings (README,
"Configuration"), read from the container's config when it starts — not a number fixed from the
environment when the module is imported."""
from nameko.timer import Timer

from wushe.runtime.config import settings


class Every(Timer):
    def __init__(self, setting, **kwargs):
        super().__init__(interval=None, **kwargs)
        self.setting = setting

    def setup(self):
        self.interval = float(settings(self.container)[self.setting])


every = Every.decorator
