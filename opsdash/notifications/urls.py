from django.urls import path

from opsdash.notifications import views

urlpatterns = [
    path("settings/channels/", views.settings_channels, name="settings-channels"),
    path("settings/channels/new/", views.channel_create, name="channel-create"),
    path("settings/channels/<int:channel_id>/", views.channel_detail, name="channel-detail"),
    path("settings/channels/<int:channel_id>/deliveries/", views.channel_deliveries, name="channel-deliveries"),
    path("settings/channels/<int:channel_id>/edit/", views.channel_edit, name="channel-edit"),
    path("settings/channels/<int:channel_id>/enabled/", views.channel_set_enabled, name="channel-set-enabled"),
    path(
        "settings/channels/<int:channel_id>/rotate-secret/", views.channel_rotate_secret, name="channel-rotate-secret"
    ),
    path("settings/channels/<int:channel_id>/test/", views.channel_send_test, name="channel-send-test"),
    path("settings/channels/<int:channel_id>/delete/", views.channel_delete, name="channel-delete"),
]
