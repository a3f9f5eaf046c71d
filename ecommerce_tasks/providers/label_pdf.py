"""The local carrier's label: a printable A6 PDF with both addresses, a Code 128 barcode of the
shipment number and a QR code of the tracking URL (reportlab draws both barcodes)."""

from __future__ import annotations

import io
from collections.abc import Mapping
from functools import lru_cache

import fontpkg_noto_sans

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code128, qr
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A6
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

MARGIN = 6 * mm
FONT = "NotoSans"


@lru_cache(maxsize=1)
def _register_font() -> str:
    """Helvetica (a PDF base font) has no Polish, Czech, Greek or Cyrillic letters: names would
    print as boxes. Noto Sans has them, and is embedded (subset) in each label."""
    pdfmetrics.registerFont(TTFont(FONT, str(fontpkg_noto_sans.ROOT / "files" / "NotoSans[wdth,wght].ttf")))
    return FONT


def address_lines(address: Mapping[str, str]) -> list[str]:
    lines = [address.get("name", ""), address.get("company", "")]
    lines.append(f"{address.get('street', '')} {address.get('house_number', '')}".strip())
    lines.append(f"{address.get('postal_code', '')}  {address.get('city', '')}".strip())
    lines.append(address.get("country", ""))
    return [line for line in lines if line]


def render_label(shipment_number: str, tracking_url: str, sender: Mapping[str, str], recipient: Mapping[str, str], order_id: str) -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A6, pageCompression=1)
    page.setTitle(f"Shipping label {shipment_number}")
    width, height = A6
    font = _register_font()

    page.setFont(font, 7)
    y = height - MARGIN - 2 * mm
    page.drawString(MARGIN, y, "FROM")
    for line in address_lines(sender):
        y -= 3.2 * mm
        page.drawString(MARGIN, y, line[:60])

    qr_size = 30 * mm
    widget = qr.QrCodeWidget(tracking_url, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(qr_size, qr_size, transform=[qr_size / (x1 - x0), 0, 0, qr_size / (y1 - y0), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, page, width - qr_size - MARGIN + 2 * mm, height - qr_size - MARGIN + 2 * mm)

    page.setFont(font, 8)
    y = height - 48 * mm
    page.drawString(MARGIN, y, "TO")
    page.setFont(font, 11)
    for line in address_lines(recipient):
        y -= 5 * mm
        page.drawString(MARGIN, y, line[:40])

    barcode = code128.Code128(shipment_number, barHeight=16 * mm, barWidth=0.85, quiet=True)
    barcode.drawOn(page, (width - barcode.width) / 2, 14 * mm)
    page.setFont(font, 8)
    page.drawCentredString(width / 2, 10 * mm, shipment_number)
    page.drawString(MARGIN, 5 * mm, f"Order {order_id}")
    page.showPage()
    page.save()
    return buffer.getvalue()
