"""The takeover step form: the finding, and which of the step's buttons was pressed."""

from django import forms

from intake.services.takeover import FINDING_MAX

STEP_ACTIONS = [("save", "Save finding"), ("done", "Mark done"), ("reopen", "Reopen")]


class TakeoverStepForm(forms.Form):
    finding = forms.CharField(
        required=False,
        max_length=FINDING_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What you checked, how, and what you found.",
    )
    # Sent by the button pressed (name="action"), not rendered as a field.
    action = forms.ChoiceField(choices=STEP_ACTIONS)

    def __init__(self, *args, step_label: str, **kwargs):
        """`step_label` names the finding's field, so each step's box has its own label."""
        super().__init__(*args, **kwargs)
        self.fields["finding"].label = f"Finding: {step_label}"
