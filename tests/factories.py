"""factory-boy factories for Nocoflo's models."""

import factory
from django.contrib.auth import get_user_model

from datasources_app.models import DatasourceConfig


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct horse battery staple")


class AdminFactory(UserFactory):
    username = "admin"
    is_staff = True
    is_superuser = True


class DatasourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DatasourceConfig

    name = factory.Sequence(lambda n: f"source {n}")
    datasource_type = "sqlite"
    connection_string = "sqlite:////nonexistent.db"
