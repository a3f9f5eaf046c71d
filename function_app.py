"""The Function App: composition only. Each family registers its own Blueprint."""

import azure.functions as func

from ecommerce_tasks import telemetry
from ecommerce_tasks.startup import check_startup

from ecommerce_tasks.cleanup.functions import bp as cleanup
from ecommerce_tasks.intake.functions import bp as intake
from ecommerce_tasks.inventory.functions import bp as inventory
from ecommerce_tasks.notifications.functions import bp as notifications
from ecommerce_tasks.payments.functions import bp as payments
from ecommerce_tasks.shipping.functions import bp as shipping

telemetry.configure()  # Application Insights, when APPLICATIONINSIGHTS_CONNECTION_STRING is set

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (intake, payments, shipping, notifications, inventory, cleanup):
    app.register_functions(blueprint)
check_startup(app)  # under the host: every missing setting named at once, before any function runs
