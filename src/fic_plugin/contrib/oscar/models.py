"""What an Italian invoice needs and Oscar's addresses do not hold: Partita IVA, codice fiscale,
SDI code and PEC, one row per order, filled at checkout (see docs/oscar.md)."""

from django.db import models


class OrderFiscalData(models.Model):
    order = models.OneToOneField("order.Order", on_delete=models.CASCADE, related_name="fiscal_data")
    company_name = models.CharField("Ragione sociale", max_length=255, blank=True)
    vat_number = models.CharField("Partita IVA", max_length=30, blank=True)
    tax_code = models.CharField("Codice fiscale", max_length=16, blank=True)
    sdi_code = models.CharField("Codice destinatario (SDI)", max_length=7, blank=True)
    pec = models.EmailField("PEC", blank=True)

    class Meta:
        verbose_name = "Dati fiscali dell'ordine"
        verbose_name_plural = "Dati fiscali degli ordini"

    def __str__(self) -> str:
        return self.company_name or self.vat_number or self.tax_code or f"order {self.order_id}"
