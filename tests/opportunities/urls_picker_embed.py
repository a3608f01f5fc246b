"""A test-only page embedding the product picker dialog the way the opportunity line editor
does (templates/opportunities/product_picker_dialog.html's contract), for the browser test
tests/browser/test_products_picker.py."""

from django.http import HttpResponse
from django.template import engines
from django.urls import path

from crm.urls import urlpatterns as _mounted

PAGE = """{% extends "layouts/app.html" %}{% load static %}
{% block content %}<script src="{% static 'js/product-picker.js' %}" defer></script>
<link rel="stylesheet" href="{% static 'css/products.css' %}">
<table><tbody>
<tr data-product-line id="line-1">
  <td><select name="lines-0-product" data-product-field="id"><option value="">---</option></select>
      <span data-product-field="label"></span>
      <button type="button" data-product-picker-open id="open-1">Choose</button></td>
  <td><input name="lines-0-unit_price" data-product-field="unit_price"></td>
</tr>
<tr data-product-line id="line-2">
  <td><select name="lines-1-product" data-product-field="id"><option value="">---</option></select>
      <button type="button" data-product-picker-open id="open-2">Choose</button></td>
  <td><input name="lines-1-unit_price" data-product-field="unit_price" value="1"></td>
</tr>
</tbody></table>
{% include "opportunities/product_picker_dialog.html" with customer=customer only %}
{% endblock %}"""


def embed(request):
    from customers.selectors import customer_get_for_actor

    customer = None
    if request.GET.get("customer", "").isdigit():
        customer = customer_get_for_actor(actor=request.user, pk=int(request.GET["customer"]))
    template = engines["django"].from_string(PAGE)
    return HttpResponse(template.render({"customer": customer}, request))


urlpatterns = [*_mounted, path("test-picker-embed/", embed)]
