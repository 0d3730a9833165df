"""The kinds of email xsell sends, and the copy every store starts with.

Each kind is one template set: ``emails/<kind>.mjml`` (HTML), ``emails/<kind>.txt`` (plain text)
and ``emails/<kind>.subject.txt``. A merchant may override the copy of any kind per store
(``TemplateCopy``); what they leave empty comes from ``DEFAULT_COPY``. Copy may use the
placeholders ``{first_name}`` and ``{store_name}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


class Kind:
    VALUE = "value"
    CHECKIN = "checkin"
    COMPLEMENTS = "complements"
    UPGRADE = "upgrade"
    BUNDLE = "bundle"
    INCENTIVE = "incentive"
    FOLLOWUP = "followup"
    FEEDBACK = "feedback"


KINDS: tuple[str, ...] = (
    Kind.VALUE, Kind.CHECKIN, Kind.COMPLEMENTS, Kind.UPGRADE, Kind.BUNDLE, Kind.INCENTIVE,
    Kind.FOLLOWUP, Kind.FEEDBACK,
)
KIND_CHOICES = [(k, k.capitalize()) for k in KINDS]

# Kinds that show the merchant's testimonials (social proof) when the store has any.
SOCIAL_PROOF_KINDS = frozenset({Kind.COMPLEMENTS, Kind.UPGRADE, Kind.BUNDLE, Kind.FOLLOWUP,
                                Kind.INCENTIVE})


@dataclass(frozen=True, slots=True)
class Copy:
    """The merchant-editable words of one kind."""

    subject: str
    preheader: str
    heading: str
    body: str
    cta_label: str


DEFAULT_COPY: MappingProxyType[str, Copy] = MappingProxyType({
    Kind.VALUE: Copy(
        subject="Getting the most from your order, {first_name}",
        preheader="A few tips from {store_name}, no sales pitch.",
        heading="Make the most of what you bought",
        body="Thanks again for shopping with {store_name}. Here are a few tips our customers "
             "find useful in the first weeks.\n\nStore it well, use it often, and tell us if "
             "anything is not as you expected: we read every reply.",
        cta_label="Read the guide",
    ),
    Kind.CHECKIN: Copy(
        subject="How is it going, {first_name}?",
        preheader="One click tells us how we can help.",
        heading="How is it going?",
        body="You have had your order for a little while now. How is it working out? "
             "Pick the answer that fits: it takes one click.",
        cta_label="Contact us",
    ),
    Kind.COMPLEMENTS: Copy(
        subject="Goes well with your last order",
        preheader="Picked to go with what you already have.",
        heading="Made to go together",
        body="These go well with what you bought last time. We only suggest items that are "
             "in stock today.",
        cta_label="See more",
    ),
    Kind.UPGRADE: Copy(
        subject="{first_name}, a step up from your last pick",
        preheader="Side by side: what you have and what the upgrade adds.",
        heading="Thinking of an upgrade?",
        body="Here is how your pick compares with the next one up, side by side, so you can "
             "decide in a glance.",
        cta_label="Compare in the store",
    ),
    Kind.BUNDLE: Copy(
        subject="Together for less",
        preheader="Buy the set and save, prices below.",
        heading="Better together",
        body="Get the full set in one order. Every price and the saving are shown below.",
        cta_label="Get the bundle",
    ),
    Kind.INCENTIVE: Copy(
        subject="A thank-you for you, {first_name}",
        preheader="Your code and the date it ends are inside.",
        heading="A little thank-you",
        body="Here is a code for your next order. It is yours until the date below.",
        cta_label="Use my code",
    ),
    Kind.FOLLOWUP: Copy(
        subject="Still thinking it over?",
        preheader="The details people ask about most.",
        heading="Still deciding?",
        body="You had a look at these recently. Here is what other customers wanted to know "
             "before they chose: delivery, returns and how they hold up.",
        cta_label="Take another look",
    ),
    Kind.FEEDBACK: Copy(
        subject="{first_name}, how likely are you to recommend us?",
        preheader="One click, zero to ten.",
        heading="One quick question",
        body="How likely are you to recommend {store_name} to a friend? Click a number: that "
             "is all.",
        cta_label="Tell us more",
    ),
})
