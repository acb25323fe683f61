import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = [("order", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="OrderFiscalData",
            fields=[
                ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("company_name", models.CharField(blank=True, max_length=255, verbose_name="Ragione sociale")),
                ("vat_number", models.CharField(blank=True, max_length=30, verbose_name="Partita IVA")),
                ("tax_code", models.CharField(blank=True, max_length=16, verbose_name="Codice fiscale")),
                ("sdi_code", models.CharField(blank=True, max_length=7, verbose_name="Codice destinatario (SDI)")),
                ("pec", models.EmailField(blank=True, max_length=254, verbose_name="PEC")),
                ("order", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                               related_name="fiscal_data", to="order.order")),
            ],
            options={"verbose_name": "Dati fiscali dell'ordine", "verbose_name_plural": "Dati fiscali degli ordini"},
        ),
    ]
