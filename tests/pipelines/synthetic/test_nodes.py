"""The synthetic generator: exact UCI format, realistic marginals, patients, planted signal."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from kedro_datasets.pandas import CSVDataset
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from diab_readmit.pipelines.synthetic.nodes import generate_encounters
from diab_readmit.pipelines.synthetic.parameter_models import SyntheticParams

# The header line of the published diabetic_data.csv, written out so the test does not
# depend on the generator's own column list.
UCI_HEADER = (
    "encounter_id,patient_nbr,race,gender,age,weight,admission_type_id,"
    "discharge_disposition_id,admission_source_id,time_in_hospital,payer_code,"
    "medical_specialty,num_lab_procedures,num_procedures,num_medications,number_outpatient,"
    "number_emergency,number_inpatient,diag_1,diag_2,diag_3,number_diagnoses,max_glu_serum,"
    "A1Cresult,metformin,repaglinide,nateglinide,chlorpropamide,glimepiride,acetohexamide,"
    "glipizide,glyburide,tolbutamide,pioglitazone,rosiglitazone,acarbose,miglitol,"
    "troglitazone,tolazamide,examide,citoglipton,insulin,glyburide-metformin,"
    "glipizide-metformin,glimepiride-pioglitazone,metformin-rosiglitazone,"
    "metformin-pioglitazone,change,diabetesMed,readmitted"
).split(",")
MEDICATIONS = UCI_HEADER[24:47]
COUNTS = [
    "time_in_hospital",
    "num_lab_procedures",
    "num_procedures",
    "num_medications",
    "number_outpatient",
    "number_emergency",
    "number_inpatient",
    "number_diagnoses",
]
# Value sets of the published file (UCI documentation and IDs_mapping.csv).
DOMAINS = {
    "race": {"Caucasian", "AfricanAmerican", "Hispanic", "Asian", "Other", "?"},
    "gender": {"Female", "Male", "Unknown/Invalid"},
    "age": {f"[{10 * i}-{10 * i + 10})" for i in range(10)},
    "weight": {"?", ">200"} | {f"[{25 * i}-{25 * i + 25})" for i in range(8)},
    "admission_type_id": set(range(1, 9)),
    "discharge_disposition_id": set(range(1, 31)),
    "admission_source_id": set(range(1, 27)) - {16},
    "payer_code": {
        "?",
        "MC",
        "HM",
        "SP",
        "BC",
        "MD",
        "CP",
        "UN",
        "CM",
        "OG",
        "PO",
        "DM",
        "CH",
        "WC",
        "OT",
        "MP",
        "SI",
        "FR",
    },
    "max_glu_serum": {"None", "Norm", ">200", ">300"},
    "A1Cresult": {"None", "Norm", ">7", ">8"},
    **{name: {"No", "Steady", "Up", "Down"} for name in MEDICATIONS},
    "change": {"No", "Ch"},
    "diabetesMed": {"No", "Yes"},
    "readmitted": {"NO", ">30", "<30"},
}
ICD9 = re.compile(r"^(\d{1,3}(\.\d{1,2})?|V\d{2}(\.\d{1,2})?|E\d{3}(\.\d)?|\?)$")
DEATH_OR_HOSPICE = [11, 13, 14, 19, 20, 21]


@pytest.fixture(scope="module")
def encounters() -> pd.DataFrame:
    return generate_encounters(SyntheticParams(n_encounters=20_000, seed=7))


def test_columns_are_the_uci_columns_in_order(encounters):
    assert list(encounters.columns) == UCI_HEADER
    assert len(encounters) == 20_000


def test_every_value_is_in_the_uci_domain(encounters):
    for column, domain in DOMAINS.items():
        values = set(encounters[column].unique())
        assert values <= domain, (
            f"{column}: {sorted(map(str, values - domain))} not in UCI domain"
        )
    for column in ("diag_1", "diag_2", "diag_3"):
        bad = [code for code in encounters[column].unique() if not ICD9.match(code)]
        assert not bad, f"{column}: not ICD-9 codes: {bad[:5]}"


def test_diagnoses_span_icd9_chapters_and_supplementary_codes(encounters):
    codes = pd.concat(
        [encounters[c].astype(str) for c in ("diag_1", "diag_2", "diag_3")]
    )
    assert codes.str.startswith("V").any() and codes.str.startswith("E").any()
    assert codes.str.match(r"^250\.\d").any(), (
        "no diabetes codes with a complication digit"
    )
    hundreds = pd.to_numeric(codes[codes.str[0].str.isdigit()]).floordiv(100)
    assert set(range(0, 10)) <= set(hundreds.astype(int)), (
        "some ICD-9 chapters never occur"
    )


def test_counts_are_non_negative_integers_in_range(encounters):
    for column in COUNTS:
        assert pd.api.types.is_integer_dtype(encounters[column]), column
        assert encounters[column].min() >= 0, column
    assert encounters["time_in_hospital"].between(1, 14).all()
    assert encounters["number_diagnoses"].between(1, 16).all()


def test_rows_are_in_increasing_encounter_id_order(encounters):
    ids = encounters["encounter_id"]
    assert ids.is_monotonic_increasing and ids.is_unique
    assert (encounters["patient_nbr"] > 0).all()


def test_readmission_shares_are_close_to_the_real_file(encounters):
    shares = encounters["readmitted"].value_counts(normalize=True)
    assert abs(shares["<30"] - 0.1116) < 0.015
    assert abs(shares[">30"] - 0.3493) < 0.02


def test_most_patients_have_one_encounter_and_some_many(encounters):
    per_patient = encounters["patient_nbr"].value_counts()
    assert (
        1.3 < len(encounters) / len(per_patient) < 1.6
    )  # real: 101,766 / 71,518 = 1.42
    assert 0.65 < (per_patient == 1).mean() < 0.85  # real: 0.77
    assert per_patient.max() >= 6


def test_death_and_hospice_are_never_readmitted_nor_followed(encounters):
    ended = encounters["discharge_disposition_id"].isin(DEATH_OR_HOSPICE)
    assert ended.sum() > 100
    assert (encounters.loc[ended, "readmitted"] == "NO").all()
    last_of_patient = ~encounters["patient_nbr"].duplicated(keep="last")
    assert last_of_patient[ended].all(), "a patient came back after death or hospice"


def test_later_encounters_follow_under_30_readmissions_more_often(encounters):
    under_30 = encounters["readmitted"].eq("<30")
    previous = under_30.groupby(encounters["patient_nbr"]).shift()
    after_under_30 = under_30[previous.eq(True)].mean()
    after_other = under_30[previous.eq(False)].mean()
    first = under_30[previous.isna()].mean()
    assert after_under_30 > after_other + 0.03 and after_other > first


def test_medication_flags_agree_with_the_medication_columns(encounters):
    meds = encounters[MEDICATIONS].astype(str)
    on_any = (meds != "No").any(axis=1)
    dose_changed = meds.isin(["Up", "Down"]).any(axis=1)
    assert (encounters["diabetesMed"].eq("Yes") == on_any).all()
    assert encounters.loc[dose_changed, "change"].eq("Ch").all()
    assert encounters.loc[~on_any, "change"].eq("No").all()
    one_diagnosis = encounters["number_diagnoses"] == 1
    assert encounters.loc[one_diagnosis, ["diag_2", "diag_3"]].eq("?").all().all()


def _honest_features(frame: pd.DataFrame) -> pd.DataFrame:
    """Features a model may use: the encounter's own columns and the patient's earlier ones."""
    under_30 = frame["readmitted"].eq("<30").astype(int)
    by_patient = under_30.groupby(frame["patient_nbr"])
    features = frame[COUNTS].astype(float)
    features["age"] = frame["age"].astype(str).str[1:].str.split("-").str[0].astype(int)
    for disposition in (1, 3, 6, 22, 5, 2):
        features[f"discharge_{disposition}"] = frame["discharge_disposition_id"].eq(
            disposition
        )
    features["earlier_encounters"] = by_patient.cumcount()
    features["earlier_under_30"] = by_patient.cumsum() - under_30
    return features.astype(float)


def test_planted_signal_is_learnable_but_far_from_perfect(encounters):
    features = _honest_features(encounters)
    label = encounters["readmitted"].eq("<30").to_numpy()
    cut = int(len(encounters) * 0.7)  # rows are in admission order: a temporal split
    scaler = StandardScaler().fit(features[:cut])
    model = LogisticRegression(max_iter=1000).fit(
        scaler.transform(features[:cut]), label[:cut]
    )
    auc = roc_auc_score(
        label[cut:], model.predict_proba(scaler.transform(features[cut:]))[:, 1]
    )
    assert 0.62 < auc < 0.85, f"temporal-split ROC-AUC {auc:.3f}"


def test_same_seed_gives_the_same_file_and_another_seed_a_different_one(tmp_path):
    def saved(seed: int, name: str) -> bytes:
        dataset = CSVDataset(filepath=str(tmp_path / name), save_args={"index": False})
        dataset.save(
            generate_encounters(SyntheticParams(n_encounters=5_000, seed=seed))
        )
        return (tmp_path / name).read_bytes()

    first, again, other = saved(3, "a.csv"), saved(3, "b.csv"), saved(4, "c.csv")
    assert first == again
    assert first != other


def test_csv_round_trip_keeps_the_uci_text(tmp_path, encounters):
    dataset = CSVDataset(
        filepath=str(tmp_path / "diabetic_data.csv"),
        save_args={"index": False},
        load_args={"dtype": str, "keep_default_na": False},
    )
    dataset.save(encounters)
    assert (tmp_path / "diabetic_data.csv").read_text().splitlines()[0] == ",".join(
        UCI_HEADER
    )
    loaded = dataset.load()
    pd.testing.assert_frame_equal(loaded, encounters.astype(str), check_dtype=False)
    assert loaded["payer_code"].eq("?").any() and loaded["weight"].eq("?").mean() > 0.9


def test_smallest_size_is_exact():
    assert (
        len(generate_encounters(SyntheticParams(n_encounters=1_000, seed=0))) == 1_000
    )


@pytest.mark.real_data
def test_values_and_marginals_match_the_real_file(uci_csv, encounters):
    real = pd.read_csv(uci_csv, dtype=str, keep_default_na=False)
    synthetic = encounters.astype(str)
    assert list(real.columns) == list(synthetic.columns)
    for column in real.columns[2:]:
        unseen = set(synthetic[column]) - set(real[column])
        assert not unseen, (
            f"{column}: values never seen in the real file: {sorted(unseen)[:5]}"
        )
        real_shares = real[column].value_counts(normalize=True)
        shares = synthetic[column].value_counts(normalize=True)
        distance = 0.5 * real_shares.subtract(shares, fill_value=0).abs().sum()
        # Diagnoses list only the ICD-9 codes common in the real file (about 92% of them).
        limit = 0.12 if column.startswith("diag_") else 0.03
        assert distance < limit, f"{column}: total variation distance {distance:.3f}"
