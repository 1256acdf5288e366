"""Billing: payments, subscriptions and their invoices, refunds, disputes, the portal."""

from __future__ import annotations

from bot.sandbox.stripe.catalogue import Catalogue
from bot.sandbox.stripe.wire import (
    JsonObject,
    StripeError,
    as_bool,
    as_int,
    as_metadata,
    as_str,
    invalid,
    merge_metadata,
    new_id,
    required,
)


class Billing(Catalogue):
    """Money moving: what customers pay, are refunded and dispute."""

    def _pay(
        self,
        customer: JsonObject | None,
        amount: int,
        currency: str,
        metadata: dict[str, str],
        *,
        email: str | None = None,
        name: str | None = None,
    ) -> JsonObject:
        """Create a succeeded payment intent and its charge; emit their events."""
        intent = self._intent(customer, amount, currency, metadata)
        self._charge(
            intent, email or (customer or {}).get("email"), name or (customer or {}).get("name")
        )
        return intent

    def _intent(
        self, customer: JsonObject | None, amount: int, currency: str, metadata: dict[str, str]
    ) -> JsonObject:
        """Create a payment intent still processing (a delayed payment method), no charge yet."""
        return self._new(
            "payment_intent",
            {
                "amount": amount,
                "amount_received": 0,
                "currency": currency,
                "customer": customer["id"] if customer else None,
                "last_payment_error": None,
                "latest_charge": None,
                "metadata": dict(metadata),
                "status": "processing",
            },
        )

    def _charge(self, intent: JsonObject, email: str | None, name: str | None) -> JsonObject:
        """Settle a payment intent with a succeeded charge; emit their events."""
        charge = self._new(
            "charge",
            {
                "amount": intent["amount"],
                "amount_captured": intent["amount"],
                "amount_refunded": 0,
                "billing_details": {"email": email, "name": name},
                "captured": True,
                "currency": intent["currency"],
                "customer": intent["customer"],
                "disputed": False,
                "metadata": dict(intent["metadata"]),
                "paid": True,
                "payment_intent": intent["id"],
                "refunded": False,
                "refunds": {"object": "list", "data": [], "has_more": False},
                "status": "succeeded",
            },
        )
        intent.update(
            {
                "amount_received": intent["amount"],
                "latest_charge": charge["id"],
                "status": "succeeded",
            }
        )
        self.emit("charge.succeeded", charge)
        self.emit("payment_intent.succeeded", intent)
        return charge

    def _invoice(
        self,
        subscription: JsonObject,
        reason: str,
        *,
        paid: bool,
        discount: int = 0,
        one_time: list[JsonObject] | None = None,
    ) -> JsonObject:
        """Create a subscription's invoice, paid or with its first payment attempt failed.

        ``one_time`` are a checkout's one-time line items, billed on the first invoice only.
        """
        now = self.now()
        lines = [
            {
                "id": new_id("il_"),
                "object": "line_item",
                "amount": item["price"]["unit_amount"] * item["quantity"],
                "currency": subscription["currency"],
                "period": {
                    "end": item["current_period_end"],
                    "start": item["current_period_start"],
                },
                "pricing": {
                    "price_details": {
                        "price": item["price"]["id"],
                        "product": item["price"]["product"],
                    },
                    "type": "price_details",
                },
                "quantity": item["quantity"],
            }
            for item in subscription["items"]["data"]
        ]
        lines += [
            {
                "id": new_id("il_"),
                "object": "line_item",
                "amount": item["amount_subtotal"],
                "currency": subscription["currency"],
                "period": {"end": now, "start": now},
                "pricing": {
                    "price_details": {
                        "price": item["price"]["id"],
                        "product": item["price"]["product"],
                    },
                    "type": "price_details",
                },
                "quantity": item["quantity"],
            }
            for item in one_time or []
        ]
        subtotal = sum(line["amount"] for line in lines)
        amount = subtotal - discount
        return self._new(
            "invoice",
            {
                "amount_due": amount,
                "amount_paid": amount if paid else 0,
                "amount_remaining": 0 if paid else amount,
                "attempt_count": 1,
                "attempted": True,
                "billing_reason": reason,
                "collection_method": "charge_automatically",
                "currency": subscription["currency"],
                "customer": subscription["customer"],
                "customer_email": self.objects["customer"][subscription["customer"]]["email"],
                "lines": {"object": "list", "data": lines, "has_more": False},
                "metadata": {},
                "next_payment_attempt": None if paid else now + 3 * 86400,
                "parent": {
                    "quote_details": None,
                    "subscription_details": {
                        "metadata": dict(subscription["metadata"]),
                        "subscription": subscription["id"],
                    },
                    "type": "subscription_details",
                },
                "period_end": now,
                "period_start": now,
                "status": "paid" if paid else "open",
                "subtotal": subtotal,
                "total_discount_amounts": [{"amount": discount}] if discount else [],
                "status_transitions": {
                    "finalized_at": now,
                    "marked_uncollectible_at": None,
                    "paid_at": now if paid else None,
                    "voided_at": None,
                },
                "total": amount,
            },
        )

    # -- subscriptions ----------------------------------------------------------------------

    def cancel_subscription(
        self, subscription: JsonObject, reason: str = "cancellation_requested"
    ) -> JsonObject:
        """End a subscription now and emit ``customer.subscription.deleted``."""
        if subscription["status"] == "canceled":
            raise StripeError(
                400,
                f"A canceled subscription can only update its cancellation_details and "
                f"metadata. (subscription {subscription['id']})",
            )
        now = self.now()
        subscription.update(
            {
                "status": "canceled",
                "canceled_at": now,
                "ended_at": now,
                "cancellation_details": {"comment": None, "feedback": None, "reason": reason},
            }
        )
        self.emit("customer.subscription.deleted", subscription)
        return subscription

    def update_subscription(self, subscription: JsonObject, params: JsonObject) -> JsonObject:
        """Change ``cancel_at_period_end`` or metadata; emit ``customer.subscription.updated``."""
        changes: JsonObject = {}
        at_end = as_bool(params, "cancel_at_period_end")
        if at_end is not None:
            if subscription["status"] == "canceled":
                raise invalid(
                    "A canceled subscription can only update its cancellation_details and metadata.",
                    "cancel_at_period_end",
                )
            changes["cancel_at_period_end"] = at_end
            end = max(item["current_period_end"] for item in subscription["items"]["data"])
            changes["cancel_at"] = end if at_end else None
            changes["canceled_at"] = self.now() if at_end else None
        metadata = as_metadata(params)
        if metadata is not None:
            changes["metadata"] = merge_metadata(subscription["metadata"], metadata)
        return self.update("subscription", subscription, "customer.subscription.updated", changes)

    def _open_invoice(self, subscription: JsonObject) -> JsonObject | None:
        """Return the subscription's latest invoice if it is still open (a failed renewal)."""
        latest = subscription["latest_invoice"]
        invoice = self.objects["invoice"].get(latest) if latest else None
        return invoice if invoice is not None and invoice["status"] == "open" else None

    def fail_renewal(self, subscription: JsonObject) -> JsonObject:
        """Fail a renewal's payment: ``invoice.payment_failed``, the subscription past due.

        On an active subscription the period ends and a new invoice fails; on one already past
        due, Stripe's retry of the same open invoice fails again (``attempt_count`` grows).
        """
        if subscription["status"] not in ("active", "past_due"):
            raise StripeError(
                400, f"Subscription {subscription['id']} is {subscription['status']}."
            )
        invoice = self._open_invoice(subscription)
        if invoice is not None:
            previous = {"attempt_count": invoice["attempt_count"]}
            invoice["attempt_count"] += 1
            invoice["next_payment_attempt"] = self.now() + 3 * 86400
            self.emit("invoice.updated", invoice, previous)
            self.emit("invoice.payment_failed", invoice)
            return invoice
        self._advance_period(subscription)
        invoice = self._invoice(subscription, "subscription_cycle", paid=False)
        self.emit("invoice.created", invoice)
        self.emit("invoice.finalized", invoice)
        self.emit("invoice.payment_failed", invoice)
        self.update(
            "subscription",
            subscription,
            "customer.subscription.updated",
            {"status": "past_due", "latest_invoice": invoice["id"]},
        )
        return invoice

    def renew(self, subscription: JsonObject) -> JsonObject:
        """Renew a subscription with a paid invoice: the next period's, or (past due) the retry
        of the open invoice that failed, which brings the subscription back to active."""
        if subscription["status"] not in ("active", "past_due"):
            raise StripeError(
                400, f"Subscription {subscription['id']} is {subscription['status']}."
            )
        customer = self.get("customer", subscription["customer"])
        invoice = self._open_invoice(subscription)
        if invoice is not None:
            self._pay(
                customer, invoice["amount_due"], invoice["currency"], subscription["metadata"]
            )
            now = self.now()
            invoice.update(
                {
                    "amount_paid": invoice["amount_due"],
                    "amount_remaining": 0,
                    "attempt_count": invoice["attempt_count"] + 1,
                    "next_payment_attempt": None,
                    "status": "paid",
                }
            )
            invoice["status_transitions"]["paid_at"] = now
        else:
            if subscription["cancel_at_period_end"]:
                raise StripeError(
                    400,
                    f"Subscription {subscription['id']} ends at its period end; it does not renew.",
                )
            self._advance_period(subscription)
            amount = sum(
                i["price"]["unit_amount"] * i["quantity"] for i in subscription["items"]["data"]
            )
            self._pay(customer, amount, subscription["currency"], subscription["metadata"])
            invoice = self._invoice(subscription, "subscription_cycle", paid=True)
            self.emit("invoice.created", invoice)
            self.emit("invoice.finalized", invoice)
        self.emit("invoice.paid", invoice)
        self.emit("invoice.payment_succeeded", invoice)
        self.update(
            "subscription",
            subscription,
            "customer.subscription.updated",
            {"status": "active", "latest_invoice": invoice["id"]},
        )
        return invoice

    def end_period(self, subscription: JsonObject) -> JsonObject:
        """End the current period: cancel if set to cancel at period end, else renew (paid)."""
        if subscription["cancel_at_period_end"]:
            return self.cancel_subscription(subscription)
        self.renew(subscription)
        return subscription

    def _advance_period(self, subscription: JsonObject) -> None:
        for item in subscription["items"]["data"]:
            length = item["current_period_end"] - item["current_period_start"]
            item["current_period_start"] = item["current_period_end"]
            item["current_period_end"] = item["current_period_start"] + length

    # -- refunds and the billing portal -----------------------------------------------------

    def create_refund(self, params: JsonObject) -> JsonObject:
        """Refund a charge (or a payment intent's charge), in full or in part."""
        charge_id = as_str(params, "charge")
        intent_id = as_str(params, "payment_intent")
        if charge_id is None and intent_id is None:
            raise required("charge")
        if charge_id is None:
            assert intent_id is not None
            intent = self.get("payment_intent", intent_id, "payment_intent")
            charge_id = intent["latest_charge"]
            if charge_id is None:
                raise invalid(
                    f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                    "payment_intent",
                )
        charge = self.get("charge", str(charge_id), "charge")
        left = charge["amount"] - charge["amount_refunded"]
        amount = as_int(params, "amount", minimum=1)
        amount = left if amount is None else amount
        if left <= 0:
            raise StripeError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount > left:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount",
            )
        refund = self._new(
            "refund",
            {
                "amount": amount,
                "charge": charge["id"],
                "currency": charge["currency"],
                "metadata": as_metadata(params) or {},
                "payment_intent": charge["payment_intent"],
                "reason": as_str(params, "reason"),
                "status": "succeeded",
            },
        )
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        charge["refunds"]["data"].insert(0, refund)
        self.emit("refund.created", refund)
        self.emit("charge.refunded", charge, previous)
        return refund

    def open_dispute(self, charge: JsonObject, reason: str = "fraudulent") -> JsonObject:
        """Open a dispute on a charge (the cardholder's bank): ``charge.dispute.created``."""
        if charge["disputed"]:
            raise StripeError(400, f"Charge {charge['id']} is already disputed.")
        dispute = self._new(
            "dispute",
            {
                "amount": charge["amount"] - charge["amount_refunded"],
                "charge": charge["id"],
                "currency": charge["currency"],
                "evidence_details": {"due_by": self.now() + 7 * 86400, "has_evidence": False},
                "is_charge_refundable": False,
                "metadata": {},
                "payment_intent": charge["payment_intent"],
                "reason": reason,
                "status": "needs_response",
            },
        )
        charge["disputed"] = True
        self.emit("charge.dispute.created", dispute)
        return dispute

    def close_dispute(self, dispute: JsonObject, *, won: bool) -> JsonObject:
        """Close a dispute, won or lost: ``charge.dispute.closed``."""
        if dispute["status"] in ("won", "lost"):
            raise StripeError(
                400, f"Dispute {dispute['id']} is already closed ({dispute['status']})."
            )
        previous = {"status": dispute["status"]}
        dispute["status"] = "won" if won else "lost"
        self.emit("charge.dispute.closed", dispute, previous)
        return dispute

    def create_portal_session(self, params: JsonObject) -> JsonObject:
        """Open a billing-portal session for a customer; its ``url`` is a local page."""
        customer_id = as_str(params, "customer")
        if customer_id is None:
            raise required("customer")
        self.get("customer", customer_id, "customer")
        portal = self._new(
            "billing_portal.session",
            {
                "configuration": "bpc_sandbox",
                "customer": customer_id,
                "flow": None,
                "locale": None,
                "on_behalf_of": None,
                "return_url": as_str(params, "return_url"),
                "url": None,
            },
        )
        portal["url"] = f"{self.base_url()}/portal/{portal['id']}"
        return portal
