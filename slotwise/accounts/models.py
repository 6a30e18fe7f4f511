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


class PhoneCode(models.Model):
    """A one-time login code sent by SMS. Only an HMAC of the code is stored."""

    phone = models.CharField(_("phone (E.164)"), max_length=20, db_index=True)
    code_hash = models.CharField(_("code hash"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)

    class Meta:
        verbose_name = _("phone login code")
        verbose_name_plural = _("phone login codes")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.phone} @ {self.created_at:%Y-%m-%d %H:%M}"


class PhoneLoginState(models.Model):
    """Failed code attempts per number and the lock they cause (kept in the database so a
    restart or a cache flush does not lift it)."""

    phone = models.CharField(_("phone (E.164)"), max_length=20, unique=True)
    failures = models.PositiveSmallIntegerField(_("failures"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)

    class Meta:
        verbose_name = _("phone login state")
        verbose_name_plural = _("phone login states")

    def __str__(self) -> str:
        return self.phone
