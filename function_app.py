"""The Function App: composition only. Each family registers its own Blueprint, and here, and only
here, it is decided which family takes which shop event and reacts to which published event."""

import azure.functions as func

from ecommerce_tasks import outcomes, shop_events, telemetry
from ecommerce_tasks.cleanup import intake as cleanup_intake
from ecommerce_tasks.cleanup.functions import bp as cleanup
from ecommerce_tasks.intake import apply as intake_router
from ecommerce_tasks.intake.functions import bp as intake
from ecommerce_tasks.inventory import intake as inventory_intake
from ecommerce_tasks.inventory.functions import bp as inventory
from ecommerce_tasks.notifications.functions import bp as notifications
from ecommerce_tasks.notifications.worker import queue_notification
from ecommerce_tasks.payments import capture as payments_capture
from ecommerce_tasks.payments import intake as payments_intake
from ecommerce_tasks.payments.decide import STOCK_ROUTE
from ecommerce_tasks.payments.functions import bp as payments
from ecommerce_tasks.shipping.functions import bp as shipping
from ecommerce_tasks.shipping.labels import on_order_paid
from ecommerce_tasks.shopapi.functions import bp as shopapi
from ecommerce_tasks.webhooks.delivery import on_published as deliver_to_shop
from ecommerce_tasks.webhooks.functions import bp as webhooks
from ecommerce_tasks.startup import check_startup

telemetry.configure()  # library log levels; Application Insights when its connection string is set

# Shop events in: each type to the family that owns it.
intake_router.accept(shop_events.OrderPlaced, payments_intake.place_order)
intake_router.accept(shop_events.PaymentStarted, payments_intake.start_payment)
intake_router.accept(shop_events.OrderCancelRequested, payments_capture.request_cancel)
intake_router.accept(shop_events.ProductUpserted, inventory_intake.upsert_product)
intake_router.accept(shop_events.StockChanged, inventory_intake.record_stock_event)
intake_router.accept(shop_events.CheckoutUpdated, cleanup_intake.record_checkout_step)
intake_router.accept(shop_events.CheckoutCompleted, cleanup_intake.complete_checkout)
intake_router.accept(shop_events.ErasureRequested, cleanup_intake.erase_customer)

# Published events: what the families do with each other's news.
outcomes.subscribe(inventory_intake.on_stock_event, route=STOCK_ROUTE)  # payments reserve and release stock
outcomes.subscribe(on_order_paid, types=("order.paid", "order.authorized", "order.late_payment"))  # it ships: a label
outcomes.subscribe(payments_capture.on_shipment_event, types=("order.shipped", "shipment.in_transit"))  # CAPTURE_ON
outcomes.subscribe(queue_notification)  # every event the customer hears about becomes one e-mail
outcomes.subscribe(deliver_to_shop)  # every shop event also as a signed webhook, when SHOP_WEBHOOK_URL is set

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (intake, shopapi, payments, shipping, notifications, inventory, cleanup, webhooks):
    app.register_functions(blueprint)
check_startup(app)  # under the host: every missing setting named at once, before any function runs
