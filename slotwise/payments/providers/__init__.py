"""Payment providers: one package each under `providers/<id>/`, registered here by dotted path
and imported on first use (ARCHITECTURE rule 1). See `base.py` for the lifecycle."""

from slotwise.core.registry import Registry

from .base import PaymentProvider

providers: Registry[PaymentProvider] = Registry(
    "payment",
    {
        "manual": "slotwise.payments.providers.manual.provider.ManualProvider",
        "test": "slotwise.payments.providers.test.provider.TestProvider",
        "swish": "slotwise.payments.providers.swish.provider.SwishProvider",
        "stripe": "slotwise.payments.providers.stripe.provider.StripeProvider",
        "yookassa": "slotwise.payments.providers.yookassa.provider.YooKassaProvider",
    },
)
