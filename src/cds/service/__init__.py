"""The CDS Hooks HTTP service: app factory, routes, errors, authentication, settings.

Nothing runs on import; ``cds serve`` starts it, tests call `create_app`.
"""

from cds.service.app import app_from_env, create_app
from cds.service.errors import ServiceError
from cds.service.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "ServiceError", "Settings", "app_from_env", "create_app", "load_settings"]
