"""Lead reading (seed 000, §2–3): purchase intent, heat and needs from a message's text.

A transparent keyword reader: each field is decided by patterns an agency can read and
adjust, in French and English. A stronger model plugs in through the same functions.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Asking how to buy or pay, or saying one is buying: the lead is ready.
_STRONG = re.compile(
    r"\b(?:commander|commande|acheter|achete|paie|paye|payer|paiement|je prends|je le prends|"
    r"envoyez[- ]moi le lien|m'envoyez le lien|le lien|buy|pay|purchase|order|checkout)\b")
# Questions about the product, its effect, price, sizes or delivery: interested, hesitating.
_MEDIUM = re.compile(
    r"\b(?:combien|prix|tarif|cher|efficace|marche|resultats?|difference|conseill\w*|taille|tailles|"
    r"couleurs?|teinte|livraison|livre|delai|cherche|peau|cheveux|budget|stock|dispo\w*|compar\w*|"
    r"suitable|skin|hair|price|cost|size|shipping|delivery|work|works|results?)\b|€")
_PROBLEM = re.compile(r"\b(?:peau|cheveux|cuir chevelu|acne|boutons|rides|skin|hair|scalp)\b")
_SEVERAL_PRODUCTS = re.compile(r"\b(?:le|la|les|l')\s?\w+ (?:ou|et|or|and) (?:le|la|les|l'|the)\s?\w+")
_BUDGET = re.compile(r"\bbudget\b|\d+\s?(?:€|eur\b|euros\b)|[$£]\s?\d+")


@dataclass(frozen=True, slots=True)
class LeadReading:
    """What a message says about its sender, in the brief's field names."""

    intention_achat: str  # forte, moyenne, faible
    lead_chaleur: str  # chaud, tiède, froid
    conseil: bool  # asks about several products: needs advice
    reco: bool  # mentions a skin or hair problem: room for a recommendation
    budget: bool  # mentions a budget or an amount


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c) or c == "€")


def read_intent(text: str) -> LeadReading:
    """Read one message: `read_intent("où je paie ?").intention_achat == "forte"`."""
    folded = _fold(text)
    if _STRONG.search(folded):
        intention, heat = "forte", "chaud"
    elif _MEDIUM.search(folded):
        intention, heat = "moyenne", "tiède"
    else:
        intention, heat = "faible", "froid"
    return LeadReading(intention, heat, bool(_SEVERAL_PRODUCTS.search(folded)),
                       bool(_PROBLEM.search(folded)), bool(_BUDGET.search(folded)))
