"""The inventory of contract sections 3 and 7: the data (`model`), reading and validating a file
(`parse`), and keeping it in the store (`store`)."""

from ioc.inventory.model import Agency, Entity, Inventory, InventoryError, Site
from ioc.inventory.parse import parse_inventory, read_inventory
from ioc.inventory.store import load_inventory_from_store, store_inventory

__all__ = [
    "Agency",
    "Entity",
    "Inventory",
    "InventoryError",
    "Site",
    "load_inventory_from_store",
    "parse_inventory",
    "read_inventory",
    "store_inventory",
]
