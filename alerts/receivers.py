"""Receivers and the route tree of a run: from the routes file (contract section 8), or, without one,
a one-route tree sending everything to the channels of the section 6 settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from alerts.delivery.notify import Integration
from alerts.notifiers.alertmanager import AlertmanagerNotifier
from alerts.notifiers.base import Notifier
from alerts.notifiers.email import EmailNotifier
from alerts.notifiers.secrets import read_secret
from alerts.notifiers.sms import Gateway, SmsNotifier, preset_gateway
from alerts.notifiers.telegram import TelegramNotifier
from alerts.notifiers.webhook import WebhookNotifier
from alerts.notifiers.zalo import ZaloNotifier
from alerts.routes.config import ReceiverConfig, RoutesConfig, load_routes
from alerts.routes.time_intervals import TimeInterval
from alerts.routes.tree import SITE_ELSE_AGENCY, Route, build_tree
from ioc.settings import Settings

DEFAULT_RECEIVER = "ioc"
log = logging.getLogger("ioc.alerts")


@dataclass
class Delivery:
    tree: Route
    receivers: dict[str, list[Integration]]
    intervals: dict[str, tuple[TimeInterval, ...]] = field(default_factory=dict)


def receiver_integrations(config: ReceiverConfig, settings: Settings) -> list[Integration]:
    """One integration per `*_configs` entry; secrets are read from their files now."""
    external, language, tz = settings.public_url, settings.language, settings.timezone
    out: list[Integration] = []
    for hook in config.webhook_configs:
        notifier: Notifier = WebhookNotifier(hook.url, external_url=external, max_alerts=hook.max_alerts)
        out.append(Integration(notifier, hook.send_resolved))
    for am in config.alertmanager_configs:
        out.append(Integration(AlertmanagerNotifier(am.url, external_url=external), True))
    for mail in config.email_configs:
        host, _, port = mail.smarthost.rpartition(":")
        password = read_secret(mail.auth_password_file, "SMTP password") if mail.auth_password_file else None
        notifier = EmailNotifier(
            host=host, port=int(port), sender=mail.from_, recipients=[t.strip() for t in mail.to.split(",")],
            language=language, timezone=tz, external_url=external, user=mail.auth_username, password=password,
            starttls=mail.require_tls,
        )  # fmt: skip
        out.append(Integration(notifier, mail.send_resolved, digest=True))
    for tg in config.telegram_configs:
        notifier = TelegramNotifier(
            api_url=tg.api_url, token=read_secret(tg.bot_token_file, "telegram bot token"), chat_ids=[str(tg.chat_id)],
            language=language, timezone=tz, external_url=external,
        )  # fmt: skip
        out.append(Integration(notifier, tg.send_resolved, digest=True))
    for zalo in config.zalo_configs:
        notifier = ZaloNotifier(
            access_token_file=zalo.oa_access_token_file, refresh_token_file=zalo.refresh_token_file,
            secret_key_file=zalo.secret_key_file, app_id=zalo.app_id, user_ids=list(zalo.user_ids), language=language,
            timezone=tz, external_url=external, api_url=zalo.api_url, oauth_url=zalo.oauth_url,
        )  # fmt: skip
        out.append(Integration(notifier, zalo.send_resolved, digest=True))
    for sms in config.sms_configs:
        if sms.preset is not None:
            gateway = preset_gateway(sms.preset, url=sms.url)
        else:
            assert sms.url is not None and sms.body_template is not None  # checked by SmsConfig
            gateway = Gateway(sms.url, sms.method or "POST", dict(sms.headers), sms.body_template)
        if sms.headers and sms.preset is not None:
            gateway = Gateway(gateway.url, gateway.method, {**gateway.headers, **sms.headers}, gateway.body_template,
                              gateway.preset)  # fmt: skip
        notifier = SmsNotifier(
            gateway, phones=list(sms.phones), language=language, external_url=external, max_chars=sms.max_chars,
            unicode=sms.unicode, brandname=sms.brandname, api_key_file=sms.api_key_file,
            secret_key_file=sms.secret_key_file, access_token_file=sms.access_token_file,
        )  # fmt: skip
        out.append(Integration(notifier, sms.send_resolved, digest=True))
    return out


def from_routes(routes: RoutesConfig, settings: Settings) -> Delivery:
    return Delivery(
        build_tree(routes.route),
        {r.name: receiver_integrations(r, settings) for r in routes.receivers},
        routes.intervals(),
    )


def settings_integrations(settings: Settings) -> list[Integration]:
    """The channels of the section 6 settings, as before there was a routes file."""
    external = settings.public_url
    out = [Integration(WebhookNotifier(str(url), external_url=external)) for url in settings.alert_webhook_urls]
    if settings.alertmanager_url is not None:
        out.append(Integration(AlertmanagerNotifier(str(settings.alertmanager_url), external_url=external)))
    if settings.smtp_host and settings.smtp_to:
        email = EmailNotifier(
            host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
            recipients=list(settings.smtp_to), language=settings.language, timezone=settings.timezone,
            external_url=external, user=settings.smtp_user, password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )  # fmt: skip
        out.append(Integration(email, digest=True))
    if settings.telegram_bot_token and settings.telegram_chat_ids:
        telegram = TelegramNotifier(
            api_url=str(settings.telegram_api_url), token=settings.telegram_bot_token,
            chat_ids=list(settings.telegram_chat_ids), language=settings.language, timezone=settings.timezone,
            external_url=external,
        )  # fmt: skip
        out.append(Integration(telegram, digest=True))
    return out


def settings_channels(settings: Settings) -> list[str]:
    """The section 6 settings that configure a channel."""
    out = ["IOC_ALERT_WEBHOOK_URLS"] if settings.alert_webhook_urls else []
    out += ["IOC_ALERTMANAGER_URL"] if settings.alertmanager_url is not None else []
    out += ["IOC_SMTP_*"] if settings.smtp_host and settings.smtp_to else []
    out += ["IOC_TELEGRAM_*"] if settings.telegram_bot_token and settings.telegram_chat_ids else []
    return out


def settings_tree(settings: Settings) -> Route:
    """One route: grouped by site (else agency) after IOC_ALERT_GROUP_WAIT_S, resent every repeat interval."""
    wait = settings.alert_group_wait_s
    return Route(
        receiver=DEFAULT_RECEIVER,
        group_by=SITE_ELSE_AGENCY,
        group_wait_s=wait,
        group_interval_s=wait,  # what joins a group already sent waits as long as a new group does
        repeat_interval_s=settings.alert_repeat_interval_s,
    )


def load_delivery(settings: Settings, integrations: list[Integration] | None = None) -> Delivery:
    """The routes file's tree and receivers, else the settings' one route (or these integrations on it)."""
    if integrations is None and settings.alert_routes_file is not None:
        ignored = settings_channels(settings)
        if ignored:
            log.warning(
                "IOC_ALERT_ROUTES_FILE is set, so %s send nothing: name them as receivers in %s",
                ", ".join(ignored), settings.alert_routes_file,
            )  # fmt: skip
        return from_routes(load_routes(settings.alert_routes_file), settings)
    chosen = integrations if integrations is not None else settings_integrations(settings)
    return Delivery(settings_tree(settings), {DEFAULT_RECEIVER: chosen})
