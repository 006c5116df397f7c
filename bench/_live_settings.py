"""Settings of the live-push bench's servers when ``--channel-layer`` picks a layer: the
app's own settings, with the Redis channel layer named by ``LIVE_BENCH_CHANNEL_LAYER``.

- ``core``: ``channels_redis.core.RedisChannelLayer`` (sorted sets, one BZPOPMIN per
  message and process), with the capacity and expiry of ``omniservice.settings``;
- ``pubsub``: ``channels_redis.pubsub.RedisPubSubChannelLayer`` (one PUBLISH per group;
  each process subscribes once per group and fans out locally).
"""

import os

from omniservice.settings import *  # noqa: F403
from omniservice.settings import CHANNEL_LAYERS, REDIS_URL

_LAYER = os.environ.get("LIVE_BENCH_CHANNEL_LAYER", "")
if REDIS_URL and _LAYER == "core":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 30},
        }
    }
elif REDIS_URL and _LAYER == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
elif _LAYER:
    raise ValueError(f"LIVE_BENCH_CHANNEL_LAYER={_LAYER!r} needs REDIS_URL and core or pubsub")
