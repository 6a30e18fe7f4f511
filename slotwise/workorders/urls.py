"""The work-orders pages under /work/, one namespace ("workorders"); each area keeps its own
pattern list: intake (web form, new order), office (orders list, order page, catalogue),
dispatch (board, candidates, assign), tech (the technician's app and its offline sync),
earnings (pay rules, earnings, payouts)."""

from . import dispatch_urls, earnings_urls, intake_urls, office_urls, tech_urls

app_name = "workorders"

urlpatterns = [
    *intake_urls.urlpatterns,
    *dispatch_urls.urlpatterns,
    *tech_urls.urlpatterns,
    *earnings_urls.urlpatterns,
    *office_urls.urlpatterns,  # last: it holds /work/<uuid>/
]
