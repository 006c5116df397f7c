"""The widget's texts, translated on the server (gettext, ``locale/``) in the visitor's
language and sent with the session: the script holds no language of its own."""

from __future__ import annotations

from django.utils.translation import gettext as _


def widget_texts() -> dict[str, str]:
    return {
        "open": _("Chat with us"),
        "close": _("Close the chat"),
        "greeting": _("Hello! How can we help you?"),
        "prechat_intro": _("Tell us who you are and we will be right with you."),
        "name": _("Your name"),
        "contact": _("Phone or email"),
        "topic": _("Topic"),
        "topic_placeholder": _("Order, delivery, return, product…"),
        "start": _("Start the chat"),
        "message": _("Your message"),
        "placeholder": _("Write a message…"),
        "send": _("Send"),
        "attach": _("Attach a file"),
        "typing": _("%(name)s is typing…"),
        "offline_title": _("We are away right now"),
        "offline_intro": _(
            "Leave us a message and we will answer you by phone or email as soon as we are back."
        ),
        "outside_hours": _("Our chat is closed at this hour."),
        "no_agent": _("No one can answer right now."),
        "leave_message": _("Leave a message"),
        "offline_sent": _("Thank you, we have your message and will answer soon."),
        "offline_banner": _("We are away: we will answer as soon as we are back."),
        "sending": _("Sending…"),
        "failed": _("Not sent. Tap to retry."),
        "read": _("Read"),
        "you": _("You"),
        "reconnecting": _("Reconnecting…"),
        "error": _("Something went wrong. Try again."),
        "too_large": _("The file is larger than 10 MB."),
    }
