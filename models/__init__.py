"""Every model, imported so Alembic and the app see the whole schema."""

from models.account import Account, Role, User
from models.base import db
from models.bundle import Bundle, BundleGroup, BundleStatus, BundleVersion, SeenItem
from models.connection import Connection, ConnectionStatus
from models.inbox import InboxEvent, InboxStatus
from models.journal import EventLevel, JournalEvent
from models.run import Run, RunStatus, RunStep, RunTrigger
from models.setting import SystemSetting
from models.template import CatalogTemplate, InstalledTemplate

__all__ = [
    "Account", "Bundle", "BundleGroup", "BundleStatus", "BundleVersion", "CatalogTemplate",
    "Connection", "ConnectionStatus", "EventLevel", "InboxEvent", "InboxStatus",
    "InstalledTemplate", "JournalEvent", "Role", "Run", "RunStatus", "RunStep",
    "RunTrigger", "SeenItem", "SystemSetting", "User", "db",
]
