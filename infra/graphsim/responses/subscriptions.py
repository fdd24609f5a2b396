"""The subscription endpoints: POST /subscriptions, GET/PATCH/DELETE /subscriptions/{id}.

As Microsoft documents them (learn.microsoft.com/graph/api/subscription-post-subscriptions and
its siblings): create answers 201 with the subscription after the validation handshake; update
takes expirationDateTime (and notificationUrl) and answers 200; delete answers 204. Creating a
subscription on Outlook events needs a calendar permission of the caller (app role Calendars.Read
or Calendars.ReadWrite; delegated: the user's own rights), and the watched mailbox must be one
the app may reach (the application access policy applies as for any request on it). An app sees
and changes only its own subscriptions: another app's id is 404, as an unknown one is.

The plug-in state (SubscriptionPlugin) hangs on the service as `service.extensions["subscriptions"]`;
`sim.graph.send_lifecycle(id, event)` reaches it.
"""

from __future__ import annotations

from typing import Any

from infra.graphsim.context import GraphContext
from infra.graphsim.errors import GraphError
from infra.graphsim.models.subscriptions import MAX_CLIENT_STATE, GraphSubscription, SubscriptionBook
from infra.graphsim.routes import READ, Answer, on_service, route
from infra.graphsim.webhooks import WebhookAttempt, Webhooks

__all__ = ["SubscriptionPlugin", "plugin_of"]


class SubscriptionPlugin:
    """The subscriptions and the webhook sender of one GraphService (control API for tests)."""

    def __init__(self, service: Any) -> None:
        self.service = service
        self.book = SubscriptionBook(service.backend)
        self.webhooks = Webhooks(service.backend, self.book)

    def subscriptions(self) -> list[GraphSubscription]:
        """The live subscriptions (expired ones are gone)."""
        return self.book.live()

    def send_lifecycle(self, subscription_id: str, event: str) -> WebhookAttempt:
        """POST a lifecycle notification (reauthorizationRequired, subscriptionRemoved, missed)."""
        subscription = self.book.find(subscription_id)
        if subscription is None:
            raise KeyError(f"no live subscription {subscription_id}")
        return self.webhooks.send_lifecycle(subscription, event)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        return self.webhooks.wait_idle(timeout)

    def reset(self) -> None:
        self.webhooks.reset()
        self.book.reset()


@on_service
def _attach(service: Any) -> None:
    plugin = service.attach("subscriptions", SubscriptionPlugin(service))
    service.backend.on_change(plugin.webhooks.on_change)
    service.backend.clock.on_advance(plugin.webhooks.on_advance)
    service.on_reset(plugin.reset)


def plugin_of(ctx_or_service: Any) -> SubscriptionPlugin:
    service = getattr(ctx_or_service, "service", ctx_or_service)
    plugin: SubscriptionPlugin = service.extensions["subscriptions"]
    return plugin


@route("POST", "/subscriptions", name="createSubscription", roles=READ)
def create_subscription(ctx: GraphContext) -> Answer:
    plugin = plugin_of(ctx)
    body = ctx.body_object()
    now = ctx.service.backend.clock.now()
    resource = str(body.get("resource") or "")
    user, calendar_id = plugin.book.watched_mailbox(resource)
    mailbox = ctx.service.resolve_mailbox(ctx, user)
    folders = plugin.book.folders_for(mailbox, calendar_id)
    client_state = body.get("clientState")
    too_long = not isinstance(client_state, str) or len(client_state) > MAX_CLIENT_STATE
    if client_state is not None and too_long:
        raise GraphError(400, "InvalidRequest", f"clientState must be a string of at most {MAX_CLIENT_STATE} "
                         "characters.")
    notification_url = Webhooks.check_url(body.get("notificationUrl"), "notificationUrl")
    lifecycle = body.get("lifecycleNotificationUrl")
    lifecycle_url = Webhooks.check_url(lifecycle, "lifecycleNotificationUrl") if lifecycle else None
    change_types = plugin.book.change_types(body.get("changeType"))
    expires = plugin.book.expiry(body.get("expirationDateTime"), now)
    # Both endpoints prove themselves before the subscription exists.
    plugin.webhooks.validate(notification_url)
    if lifecycle_url is not None:
        plugin.webhooks.validate(lifecycle_url)
    subscription = plugin.book.add(
        resource=resource, mailbox=mailbox, folder_ids=folders, change_types=change_types,
        notification_url=notification_url, lifecycle_url=lifecycle_url, client_state=client_state,
        expires=expires, application_id=ctx.caller.client_id,
        creator_id=ctx.caller.user.smtp if ctx.caller.user is not None else ctx.caller.client_id,
        tenant_id=ctx.caller.tenant_id,
        latest_tls=str(body.get("latestSupportedTlsVersion") or "v1_2"),
    )
    return Answer(201, subscription.render(), returns="subscription")


@route("GET", "/subscriptions/{id}", name="getSubscription", roles=READ)
def get_subscription(ctx: GraphContext) -> Answer:
    return Answer(200, _own(ctx).render(), returns="subscription")


@route("PATCH", "/subscriptions/{id}", name="updateSubscription", roles=READ)
def update_subscription(ctx: GraphContext) -> Answer:
    plugin = plugin_of(ctx)
    subscription = _own(ctx)
    body = ctx.body_object()
    if "expirationDateTime" in body:
        subscription.expires = plugin.book.expiry(body["expirationDateTime"], ctx.service.backend.clock.now())
    if body.get("notificationUrl"):
        url = Webhooks.check_url(body["notificationUrl"], "notificationUrl")
        plugin.webhooks.validate(url, subscription.subscription_id)
        subscription.notification_url = url
    return Answer(200, subscription.render(), returns="subscription")


@route("DELETE", "/subscriptions/{id}", name="deleteSubscription", roles=READ)
def delete_subscription(ctx: GraphContext) -> Answer:
    subscription = _own(ctx)
    plugin_of(ctx).book.remove(subscription.subscription_id)
    return Answer(204, None)


def _own(ctx: GraphContext) -> GraphSubscription:
    subscription = plugin_of(ctx).book.get(ctx.params["id"])
    if subscription.application_id != ctx.caller.client_id:
        raise GraphError(404, "ResourceNotFound", "The object was not found.")
    return subscription
