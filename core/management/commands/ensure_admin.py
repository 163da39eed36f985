"""Make sure an admin account exists: print its login the first time, or take
NOCOFLO_ADMIN_PASSWORD (and NOCOFLO_ADMIN_USERNAME, default `admin`)."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the admin account if there is none (password from NOCOFLO_ADMIN_PASSWORD)."

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("NOCOFLO_ADMIN_USERNAME", "admin")
        password = os.environ.get("NOCOFLO_ADMIN_PASSWORD", "")
        user = User.objects.filter(username=username).first()
        if user is None:
            if User.objects.filter(is_superuser=True).exists() and not password:
                return  # an admin exists under another name
            generated = not password
            password = password or secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            shown = password if generated else "(from NOCOFLO_ADMIN_PASSWORD)"
            self.stdout.write(self.style.SUCCESS(f"Admin account: {username} / {shown}"))
        elif password and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Admin password of {username} set from NOCOFLO_ADMIN_PASSWORD")
