import pytest

from flo_twilio.runner.refs import RefError, compile_tree, parse, render

SCOPE = {
    "inputs": {"n": 3, "names": ["Ada", "Grace"], "who": {"name": "Ada"}},
    "steps": {"sms": {"outputs": {"sid": "SM1", "numSegments": 2}}},
    "item": {"phone": "+12065550100", "name": "${{ inputs.n }}"},
    "account": {"sid": "AC1"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("${{ inputs.n }}", 3),
        ("${{inputs.names}}", ["Ada", "Grace"]),
        ("${{ inputs.names[1] }}", "Grace"),
        ("${{ inputs.who['name'] }}", "Ada"),
        ("${{ steps.sms.outputs.numSegments }}", 2),
        ("n=${{ inputs.n }}", "n=3"),
        (
            "/Accounts/${{ account.sid }}/Messages/${{ steps.sms.outputs.sid }}.json",
            "/Accounts/AC1/Messages/SM1.json",
        ),
        ("${{ inputs.who }}!", '{"name": "Ada"}!'),
        ("no refs", "no refs"),
    ],
)
def test_whole_values_keep_their_type_and_others_interpolate(template, expected):
    assert render(compile_tree(template), SCOPE) == expected


def test_values_from_data_are_never_rendered_again():
    assert render(parse("Hi ${{ item.name }}"), SCOPE) == "Hi ${{ inputs.n }}"
    assert render(parse("${{ item.name }}"), SCOPE) == "${{ inputs.n }}"


@pytest.mark.parametrize(
    "text", ["${{ env.HOME }}", "${{ inputs.a b }}", "${{ inputs. }}", "x ${{ inputs.a"]
)
def test_bad_references_are_refused(text):
    with pytest.raises(RefError):
        parse(text)


def test_missing_values_name_the_path():
    with pytest.raises(RefError, match=r"steps\.sms\.outputs has no .sidd."):
        render(parse("${{ steps.sms.outputs.sidd }}"), SCOPE)
