// Drug-name normalisation on real `drug` strings of the MIMIC-IV demo prescriptions table: variants of
// strength, route, form, release, salt and brand collapse; different ingredients stay apart.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "rxlm/clinical/drug_normaliser.h"

using rxlm::clinical::DrugNormaliser;

namespace {

// (demo string, expected canonical name). Expected names are generic ingredients, lower case, combinations
// sorted and joined by "/".
const std::vector<std::pair<std::string, std::string>> kCases = {
    {"Acetaminophen", "acetaminophen"},
    {"Acetaminophen IV", "acetaminophen"},
    {"Acetaminophen (Liquid)", "acetaminophen"},
    {"Aspirin", "aspirin"},
    {"Aspirin EC", "aspirin"},
    {"Aspirin 81 mg ", "aspirin"},
    {"Aspirin (Buffered)", "aspirin"},
    {"Metoprolol Tartrate", "metoprolol"},
    {"Metoprolol Succinate XL", "metoprolol"},
    {"HYDROmorphone (Dilaudid)", "hydromorphone"},
    {"HYDROmorphone", "hydromorphone"},
    {"HYDROmorphone-HP", "hydromorphone"},
    {"OxyCODONE (Immediate Release)", "oxycodone"},
    {"OxycoDONE (Immediate Release) ", "oxycodone"},
    {"OxyCODONE SR (OxyconTIN)", "oxycodone"},
    {"OxycoDONE Liquid", "oxycodone"},
    {"Oxycodone-Acetaminophen (5mg-325mg)", "acetaminophen/oxycodone"},
    {"OxyCODONE--Acetaminophen (5mg-325mg)", "acetaminophen/oxycodone"},
    {"OxycoDONE-Acetaminophen Elixir", "acetaminophen/oxycodone"},
    {"Hydrocodone-Acetaminophen (5mg-500mg)", "acetaminophen/hydrocodone"},
    {"Morphine Sulfate", "morphine"},
    {"Morphine SR (MS Contin)", "morphine"},
    {"Morphine Sulfate (Oral Solution) 2 mg/mL", "morphine"},
    {"Fentanyl Citrate", "fentanyl"},
    {"Fentanyl Patch", "fentanyl"},
    {"Heparin", "heparin"},
    {"Heparin Sodium", "heparin"},
    {"Enoxaparin Sodium", "enoxaparin"},
    {"LORazepam", "lorazepam"},
    {"Lorazepam", "lorazepam"},
    {"Levothyroxine Sodium", "levothyroxine"},
    {"Docusate Sodium (Liquid)", "docusate"},
    {"Docusate Sodium", "docusate"},
    {"Ciprofloxacin HCl", "ciprofloxacin"},
    {"Ciprofloxacin IV", "ciprofloxacin"},
    {"Ciprofloxacin 0.3% Ophth Soln", "ciprofloxacin"},
    {"CefTRIAXone", "ceftriaxone"},
    {"CeftriaXONE", "ceftriaxone"},
    {"CefazoLIN", "cefazolin"},
    {"MetRONIDAZOLE (FLagyl)", "metronidazole"},
    {"Vancomycin Oral Liquid", "vancomycin"},
    {"Vancomycin Enema", "vancomycin"},
    {"Albuterol 0.083% Neb Soln", "albuterol"},
    {"Albuterol Inhaler", "albuterol"},
    {"Ipratropium-Albuterol Neb", "albuterol/ipratropium"},
    {"Albuterol-Ipratropium", "albuterol/ipratropium"},
    {"Ipratropium Bromide Neb", "ipratropium"},
    {"Lidocaine 5% Patch", "lidocaine"},
    {"Lidocaine Jelly 2% (Urojet)", "lidocaine"},
    {"Lidocaine 1%", "lidocaine"},
    {"Potassium Chloride", "potassium chloride"},
    {"Potassium Chloride Replacement (Critical Care and Oncology) ", "potassium chloride"},
    {"Potassium Chloride (Powder)", "potassium chloride"},
    {"Potassium Phosphate", "potassium phosphate"},
    {"Magnesium Sulfate", "magnesium sulfate"},
    {"Magnesium Oxide", "magnesium oxide"},
    {"Milk of Magnesia", "magnesium hydroxide"},
    {"Calcium Gluconate", "calcium gluconate"},
    {"Calcium Gluconate sliding scale (Critical Care-Ionized calcium)", "calcium gluconate"},
    {"Calcium Carbonate", "calcium carbonate"},
    {"Sodium Bicarbonate", "sodium bicarbonate"},
    {"Insulin Human Regular", "insulin regular"},
    {"Insulin Regular Human (U-500)", "insulin regular"},
    {"Insulin Glargine  (CVICU Protocol)", "insulin glargine"},
    {"HumaLOG", "insulin lispro"},
    {"NexIUM", "esomeprazole"},
    {"Esomeprazole sodium", "esomeprazole"},
    {"MetFORMIN XR (Glucophage XR)", "metformin"},
    {"Divalproex (EXTended Release)", "divalproex"},
    {"Divalproex Sod. Sprinkles", "divalproex"},
    {"Diltiazem Extended-Release", "diltiazem"},
    {"BuPROPion XL (Once Daily)", "bupropion"},
    {"Isosorbide Mononitrate (Extended Release)", "isosorbide mononitrate"},
    {"Isosorbide Dinitrate ER", "isosorbide dinitrate"},
    {"Sulfameth/Trimethoprim DS", "sulfamethoxazole/trimethoprim"},
    {"Sulfamethoxazole-Trimethoprim", "sulfamethoxazole/trimethoprim"},
    {"Fluticasone-Salmeterol Diskus (250/50) ", "fluticasone/salmeterol"},
    {"Fluticasone Propionate 110mcg", "fluticasone"},
    {"Dorzolamide 2%/Timolol 0.5% Ophth.", "dorzolamide/timolol"},
    {"Timolol Maleate 0.5%", "timolol"},
    {"PHENObarbital - ICU Alcohol Withdrawal (Loading Dose 1) ", "phenobarbital"},
    {"Diazepam - CIWA protocol", "diazepam"},
    {"Furosemide-Heart Failure", "furosemide"},
    {"Furosemide", "furosemide"},
    {"*NF* Ertapenem Sodium", "ertapenem"},
    {"SulfaSALAzine_", "sulfasalazine"},
    {"Filgrastim-sndz", "filgrastim"},
    {"Guaifenesin-Dextromethorphan", "dextromethorphan/guaifenesin"},
    {"Dextromethorphan-Guaifenesin (Sugar Free)", "dextromethorphan/guaifenesin"},
    {"Acetaminophen w/Codeine", "acetaminophen/codeine"},
    {"Vitamin D", "vitamin d"},
    {"Vitamin D3", "vitamin d3"},
    {"Ferrous Sulfate (Liquid)", "ferrous sulfate"},
    {"Ferrous Gluconate", "ferrous gluconate"},
    {"Glucose Gel", "dextrose"},
    {"Dextrose 50%", "dextrose"},
    {"Triamcinolone Acetonide 0.1% Cream", "triamcinolone"},
    {"Nitroglycerin SL", "nitroglycerin"},
    {"Nitroglycerin Ointment  2%", "nitroglycerin"},
    {"Quetiapine Fumarate", "quetiapine"},
    {"Olanzapine", "olanzapine"},
    {"OLANZapine (Disintegrating Tablet)", "olanzapine"},
};

}  // namespace

TEST(DrugNormaliser, DemoStringsFoldToCanonicalNames) {
  DrugNormaliser normaliser;
  ASSERT_GE(kCases.size(), 60u);
  for (const auto& [drug, expected] : kCases) EXPECT_EQ(normaliser.canonical_name(drug), expected) << "'" << drug << "'";
}

TEST(DrugNormaliser, DifferentIngredientsStayApart) {
  DrugNormaliser normaliser;
  // Pairs that share a word, a salt or a prefix but are different drugs.
  const std::vector<std::pair<std::string, std::string>> apart = {
      {"Potassium Chloride", "Potassium Phosphate"},      {"Magnesium Sulfate", "Magnesium Oxide"},
      {"Isosorbide Dinitrate", "Isosorbide Mononitrate"}, {"Insulin Glargine  (CVICU Protocol)", "HumaLOG"},
      {"Hydrocodone-Acetaminophen", "Oxycodone-Acetaminophen"}, {"Vitamin D", "Vitamin D3"},
      {"Calcium Carbonate", "Calcium Gluconate"},         {"Enalapril Maleate", "Enalaprilat"},
      {"Sodium Chloride", "Sodium Bicarbonate"},          {"Metoprolol Tartrate", "Metolazone"},
      {"Ferrous Sulfate", "Zinc Sulfate"},                {"HYDROmorphone (Dilaudid)", "Morphine Sulfate"},
  };
  for (const auto& [a, b] : apart)
    EXPECT_NE(normaliser.canonical_name(a), normaliser.canonical_name(b)) << a << " vs " << b;
}

TEST(DrugNormaliser, NonTherapeuticRows) {
  DrugNormaliser normaliser;
  EXPECT_EQ(normaliser.non_therapeutic_category("BASE", "0.9% Sodium Chloride"), "drug_type BASE");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Sodium Chloride 0.9%  Flush"), "flush");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Heparin Flush (10 units/ml)"), "flush");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Heparin Dwell (1000 Units/mL)"), "flush");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Iohexol 240"), "diagnostic agent");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Prismasate (B32 K2)"), "dialysis fluid");
  // Whole-name rules do not catch drugs whose name merely contains the word.
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Albuterol 0.083% Neb Soln"), "");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Heparin"), "");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Sodium Chloride 3% (Hypertonic)"), "");
  EXPECT_EQ(normaliser.non_therapeutic_category("ADDITIVE", "Thiamine"), "");
}

TEST(DrugNormaliser, RulesAreConfigurable) {
  rxlm::clinical::DrugRules rules;
  rules.excluded_drug_types.clear();
  rules.non_therapeutic = {{"vitamin", "thiamine", false}};
  DrugNormaliser normaliser(rules);
  EXPECT_EQ(normaliser.non_therapeutic_category("BASE", "0.9% Sodium Chloride"), "");
  EXPECT_EQ(normaliser.non_therapeutic_category("MAIN", "Thiamine"), "vitamin");
}
