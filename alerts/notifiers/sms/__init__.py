"""SMS over an HTTP gateway: eSMS and SpeedSMS presets, or a body template of one's own."""

from alerts.notifiers.sms.notifier import ESMS_URL, SPEEDSMS_URL, Gateway, SmsNotifier, preset_gateway
from alerts.notifiers.sms.text import sms_text, strip_diacritics

__all__ = ["ESMS_URL", "SPEEDSMS_URL", "Gateway", "SmsNotifier", "preset_gateway", "sms_text", "strip_diacritics"]
