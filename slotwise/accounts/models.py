"""Users. Staff log in with a username (or e-mail) and password; customers with phone + SMS code
or a social account. Which organisation and role a user has lives in `org.Staff` and
`customers.Contact`, not here."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    email = models.EmailField(_("e-mail address"), blank=True, null=True, unique=True)
    phone = models.CharField(_("phone (E.164)"), max_length=20, blank=True, null=True, unique=True)
    phone_verified = models.BooleanField(_("phone verified"), default=False)
    language = models.CharField(_("language"), max_length=8, blank=True, default="")

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def save(self, *args, **kwargs):
        # Empty strings would collide on the unique indexes; store "no value" as NULL.
        self.email = (self.email or "").strip().lower() or None
        self.phone = self.phone or None
        super().save(*args, **kwargs)
