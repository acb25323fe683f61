"""A minimal real Oscar 4.2 project, configured by tests/django_project/conftest.py.

The host code fic-plugin asks for is marked "fic-plugin:" (docs/oscar.md counts it).
"""

import os
import tempfile

from oscar import INSTALLED_APPS as OSCAR_APPS
from oscar.defaults import *  # noqa: F403 - Oscar's documented way
from oscar.defaults import OSCAR_DASHBOARD_NAVIGATION

from fic_plugin.contrib.oscar.nav import ENTRY as FIC_NAVIGATION

DATA = tempfile.mkdtemp(prefix="fic-oscar-")

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "Europe/Rome"
LANGUAGE_CODE = "it"
LANGUAGES = [("it", "Italiano"), ("en", "English")]
USE_I18N = True
SITE_ID = 1
ROOT_URLCONF = "oscar_site.urls"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.path.join(DATA, "shop.sqlite3"),
                         # a file, so the panel's background actions and the live server see the data
                         "TEST": {"NAME": os.path.join(DATA, "test-shop.sqlite3")}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
MEDIA_ROOT = os.path.join(DATA, "media")
HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "haystack.backends.simple_backend.SimpleEngine"}}
AUTHENTICATION_BACKENDS = ["oscar.apps.customer.auth_backends.EmailBackend",
                           "django.contrib.auth.backends.ModelBackend"]
LOGIN_URL = "/accounts/login/"
OSCAR_DEFAULT_CURRENCY = "EUR"
OSCAR_THUMBNAILER = "oscar.core.thumbnails.SorlThumbnail"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "oscar.apps.basket.middleware.BasketMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "DIRS": [],
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.debug",
        "django.template.context_processors.request",
        "django.template.context_processors.i18n",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
        "oscar.apps.search.context_processors.search_form",
        "oscar.apps.checkout.context_processors.checkout",
        "oscar.apps.communication.notifications.context_processors.notifications",
        "oscar.core.context_processors.metadata",
    ]},
}]

# fic-plugin: the lines a host writes (docs/oscar.md counts them)
INSTALLED_APPS = ["fic_plugin.contrib.oscar", "fic_plugin.contrib.django", *OSCAR_APPS]
OSCAR_DASHBOARD_NAVIGATION = [*OSCAR_DASHBOARD_NAVIGATION, FIC_NAVIGATION]
FIC = {"VAT_MAPPING": {"22": 0, "10": 3, "4": 4, "0": 6}}  # the FiC connection: manage.py fic_connect
# (the tests add the sandbox's connection and a database of their own: conftest.py)
