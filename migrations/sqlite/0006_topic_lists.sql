-- Reply topics from a controlled list per specialty (security issue 10, item 9). The postgres copy
-- says the same in its dialect.
--
-- Topics used to be free text typed by consultants, and commissioners saw them on /reports: a
-- black-box test tagged a case 'jane doe 1980' and it was shown. Now each specialty has a list that
-- admins keep (add, rename, retire); a reply may only carry active topics of its case's specialty,
-- by slug. Reports show the list's labels. Anything else the consultant wants to note goes in the
-- reply's `other_topic`, which stays with the case (its GP and consultants) and is never read by
-- the reports.

-- The list. `slug` is the stable id replies and the API use; `label` is what people see and admins
-- may rename. A retired topic is no longer offered or accepted, but stays, so reports of the
-- periods when it was used still name it.
CREATE TABLE specialty_topics (
    specialty     TEXT NOT NULL REFERENCES specialties (slug),
    slug          TEXT NOT NULL,
    label         TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    retired_at_ms BIGINT,
    PRIMARY KEY (specialty, slug)
);

-- A reply's free-text "other" topic: for the case's GP and consultants, never for reports.
ALTER TABLE case_messages ADD COLUMN other_topic TEXT;

-- A starter list for each of the 16 specialties (admins change it on /admin/topics/{specialty}).
INSERT INTO specialty_topics (specialty, slug, label, created_at_ms) VALUES
    ('adult-mental-health', 'adhd', 'ADHD in adults', 0),
    ('adult-mental-health', 'substance-misuse', 'Alcohol and substance misuse', 0),
    ('adult-mental-health', 'anxiety', 'Anxiety', 0),
    ('adult-mental-health', 'bipolar-disorder', 'Bipolar disorder', 0),
    ('adult-mental-health', 'depression', 'Depression', 0),
    ('adult-mental-health', 'eating-disorder', 'Eating disorder', 0),
    ('adult-mental-health', 'personality-disorder', 'Personality disorder', 0),
    ('adult-mental-health', 'ptsd', 'Post-traumatic stress disorder', 0),
    ('adult-mental-health', 'psychosis', 'Psychosis', 0),
    ('adult-mental-health', 'psychotropic-medication', 'Psychotropic medication', 0),
    ('adult-mental-health', 'self-harm', 'Self-harm and suicide risk', 0),
    ('cardiology', 'anticoagulation', 'Anticoagulation', 0),
    ('cardiology', 'atrial-fibrillation', 'Atrial fibrillation', 0),
    ('cardiology', 'chest-pain', 'Chest pain', 0),
    ('cardiology', 'ecg', 'ECG interpretation', 0),
    ('cardiology', 'heart-failure', 'Heart failure', 0),
    ('cardiology', 'heart-murmur', 'Heart murmur', 0),
    ('cardiology', 'hypertension', 'Hypertension', 0),
    ('cardiology', 'lipids', 'Lipid management', 0),
    ('cardiology', 'palpitations', 'Palpitations', 0),
    ('cardiology', 'syncope', 'Syncope', 0),
    ('dermatology', 'acne', 'Acne', 0),
    ('dermatology', 'benign-lesion', 'Benign lesion / mole', 0),
    ('dermatology', 'drug-rash', 'Drug rash', 0),
    ('dermatology', 'eczema', 'Eczema', 0),
    ('dermatology', 'fungal-infection', 'Fungal infection', 0),
    ('dermatology', 'hair-and-nail', 'Hair and nail', 0),
    ('dermatology', 'leg-ulcer', 'Leg ulcer', 0),
    ('dermatology', 'psoriasis', 'Psoriasis', 0),
    ('dermatology', 'rosacea', 'Rosacea', 0),
    ('dermatology', 'suspected-skin-cancer', 'Suspected skin cancer', 0),
    ('dermatology', 'urticaria', 'Urticaria', 0),
    ('dermatology', 'viral-warts', 'Viral warts and molluscum', 0),
    ('diabetes-endocrinology', 'adrenal', 'Adrenal disorders', 0),
    ('diabetes-endocrinology', 'calcium-bone', 'Calcium and bone disorders', 0),
    ('diabetes-endocrinology', 'gestational-diabetes', 'Gestational diabetes', 0),
    ('diabetes-endocrinology', 'hyponatraemia', 'Hyponatraemia', 0),
    ('diabetes-endocrinology', 'insulin', 'Insulin initiation and adjustment', 0),
    ('diabetes-endocrinology', 'obesity', 'Obesity', 0),
    ('diabetes-endocrinology', 'pituitary', 'Pituitary disorders', 0),
    ('diabetes-endocrinology', 'thyroid', 'Thyroid disease', 0),
    ('diabetes-endocrinology', 'type-1-diabetes', 'Type 1 diabetes', 0),
    ('diabetes-endocrinology', 'type-2-diabetes', 'Type 2 diabetes', 0),
    ('ent', 'sinusitis', 'Chronic rhinosinusitis', 0),
    ('ent', 'vertigo', 'Dizziness and vertigo', 0),
    ('ent', 'ear-infection', 'Ear infection', 0),
    ('ent', 'hearing-loss', 'Hearing loss', 0),
    ('ent', 'hoarse-voice', 'Hoarse voice', 0),
    ('ent', 'nasal-obstruction', 'Nasal obstruction', 0),
    ('ent', 'neck-lump', 'Neck lump', 0),
    ('ent', 'epistaxis', 'Nosebleeds', 0),
    ('ent', 'tonsillitis', 'Recurrent tonsillitis', 0),
    ('ent', 'tinnitus', 'Tinnitus', 0),
    ('gastroenterology', 'abnormal-liver-tests', 'Abnormal liver tests', 0),
    ('gastroenterology', 'bowel-habit', 'Change in bowel habit', 0),
    ('gastroenterology', 'coeliac-disease', 'Coeliac disease', 0),
    ('gastroenterology', 'dyspepsia', 'Dyspepsia and reflux', 0),
    ('gastroenterology', 'dysphagia', 'Dysphagia', 0),
    ('gastroenterology', 'fatty-liver', 'Fatty liver disease', 0),
    ('gastroenterology', 'ibd', 'Inflammatory bowel disease', 0),
    ('gastroenterology', 'iron-deficiency-anaemia', 'Iron deficiency anaemia', 0),
    ('gastroenterology', 'ibs', 'Irritable bowel syndrome', 0),
    ('gastroenterology', 'rectal-bleeding', 'Rectal bleeding', 0),
    ('general-surgery', 'abdominal-pain', 'Abdominal pain', 0),
    ('general-surgery', 'breast-symptoms', 'Breast symptoms', 0),
    ('general-surgery', 'gallstones', 'Gallstones', 0),
    ('general-surgery', 'anal-conditions', 'Haemorrhoids and anal conditions', 0),
    ('general-surgery', 'hernia', 'Hernia', 0),
    ('general-surgery', 'ingrown-toenail', 'Ingrown toenail', 0),
    ('general-surgery', 'lumps-and-bumps', 'Lumps and bumps', 0),
    ('general-surgery', 'pilonidal-sinus', 'Pilonidal sinus', 0),
    ('general-surgery', 'skin-abscess', 'Skin abscess', 0),
    ('general-surgery', 'varicose-veins', 'Varicose veins', 0),
    ('gynaecology', 'cervical-screening', 'Abnormal cervical screening', 0),
    ('gynaecology', 'contraception', 'Contraception', 0),
    ('gynaecology', 'endometriosis', 'Endometriosis', 0),
    ('gynaecology', 'fibroids', 'Fibroids', 0),
    ('gynaecology', 'heavy-menstrual-bleeding', 'Heavy menstrual bleeding', 0),
    ('gynaecology', 'menopause', 'Menopause and HRT', 0),
    ('gynaecology', 'ovarian-cyst', 'Ovarian cyst', 0),
    ('gynaecology', 'prolapse', 'Pelvic organ prolapse', 0),
    ('gynaecology', 'pelvic-pain', 'Pelvic pain', 0),
    ('gynaecology', 'postmenopausal-bleeding', 'Postmenopausal bleeding', 0),
    ('haematology', 'anaemia', 'Anaemia', 0),
    ('haematology', 'anticoagulation', 'Anticoagulation', 0),
    ('haematology', 'thrombocytopenia', 'Low platelets', 0),
    ('haematology', 'lymphadenopathy', 'Lymphadenopathy', 0),
    ('haematology', 'lymphocytosis', 'Lymphocytosis', 0),
    ('haematology', 'neutropenia', 'Neutropenia', 0),
    ('haematology', 'paraprotein', 'Paraprotein / MGUS', 0),
    ('haematology', 'raised-ferritin', 'Raised ferritin', 0),
    ('haematology', 'polycythaemia', 'Raised haemoglobin', 0),
    ('haematology', 'vte', 'Venous thromboembolism', 0),
    ('neurology', 'dizziness', 'Dizziness', 0),
    ('neurology', 'headache', 'Headache', 0),
    ('neurology', 'memory', 'Memory problems', 0),
    ('neurology', 'multiple-sclerosis', 'Multiple sclerosis', 0),
    ('neurology', 'sensory-symptoms', 'Numbness and tingling', 0),
    ('neurology', 'parkinsonism', 'Parkinsonism', 0),
    ('neurology', 'neuropathy', 'Peripheral neuropathy', 0),
    ('neurology', 'epilepsy', 'Seizures and epilepsy', 0),
    ('neurology', 'tia-stroke', 'TIA and stroke', 0),
    ('neurology', 'tremor', 'Tremor', 0),
    ('ophthalmology', 'cataract', 'Cataract', 0),
    ('ophthalmology', 'diabetic-eye-disease', 'Diabetic eye disease', 0),
    ('ophthalmology', 'dry-eye', 'Dry eye', 0),
    ('ophthalmology', 'eyelid-lumps', 'Eyelid lumps', 0),
    ('ophthalmology', 'floaters-flashes', 'Floaters and flashes', 0),
    ('ophthalmology', 'glaucoma', 'Glaucoma', 0),
    ('ophthalmology', 'macular-degeneration', 'Macular degeneration', 0),
    ('ophthalmology', 'red-eye', 'Red eye', 0),
    ('ophthalmology', 'squint', 'Squint', 0),
    ('ophthalmology', 'visual-loss', 'Sudden visual loss', 0),
    ('paediatrics', 'asthma-wheeze', 'Asthma and wheeze', 0),
    ('paediatrics', 'constipation', 'Constipation', 0),
    ('paediatrics', 'development', 'Developmental concerns', 0),
    ('paediatrics', 'eczema', 'Eczema', 0),
    ('paediatrics', 'feeding', 'Feeding problems', 0),
    ('paediatrics', 'febrile-illness', 'Fever', 0),
    ('paediatrics', 'food-allergy', 'Food allergy', 0),
    ('paediatrics', 'growth', 'Growth and weight', 0),
    ('paediatrics', 'seizures', 'Seizures', 0),
    ('paediatrics', 'urinary-tract-infection', 'Urinary tract infection', 0),
    ('renal', 'acute-kidney-injury', 'Acute kidney injury', 0),
    ('renal', 'ckd', 'Chronic kidney disease', 0),
    ('renal', 'electrolytes', 'Electrolyte disturbance', 0),
    ('renal', 'haematuria', 'Haematuria', 0),
    ('renal', 'hyperkalaemia', 'Hyperkalaemia', 0),
    ('renal', 'hypertension', 'Hypertension', 0),
    ('renal', 'kidney-stones', 'Kidney stones', 0),
    ('renal', 'medicines-in-ckd', 'Medicines in kidney disease', 0),
    ('renal', 'polycystic-kidney-disease', 'Polycystic kidney disease', 0),
    ('renal', 'proteinuria', 'Proteinuria', 0),
    ('respiratory', 'asthma', 'Asthma', 0),
    ('respiratory', 'breathlessness', 'Breathlessness', 0),
    ('respiratory', 'bronchiectasis', 'Bronchiectasis', 0),
    ('respiratory', 'copd', 'COPD', 0),
    ('respiratory', 'chronic-cough', 'Chronic cough', 0),
    ('respiratory', 'interstitial-lung-disease', 'Interstitial lung disease', 0),
    ('respiratory', 'lung-nodule', 'Lung nodule', 0),
    ('respiratory', 'sleep-apnoea', 'Sleep apnoea', 0),
    ('respiratory', 'suspected-lung-cancer', 'Suspected lung cancer', 0),
    ('respiratory', 'tuberculosis', 'Tuberculosis', 0),
    ('rheumatology', 'back-pain', 'Back pain', 0),
    ('rheumatology', 'connective-tissue-disease', 'Connective tissue disease', 0),
    ('rheumatology', 'fibromyalgia', 'Fibromyalgia', 0),
    ('rheumatology', 'gout', 'Gout', 0),
    ('rheumatology', 'inflammatory-arthritis', 'Inflammatory arthritis', 0),
    ('rheumatology', 'osteoporosis', 'Osteoporosis', 0),
    ('rheumatology', 'polymyalgia-rheumatica', 'Polymyalgia rheumatica', 0),
    ('rheumatology', 'autoantibodies', 'Positive autoantibodies', 0),
    ('rheumatology', 'inflammatory-markers', 'Raised inflammatory markers', 0),
    ('rheumatology', 'vasculitis', 'Vasculitis', 0),
    ('urology', 'erectile-dysfunction', 'Erectile dysfunction', 0),
    ('urology', 'foreskin', 'Foreskin problems', 0),
    ('urology', 'haematuria', 'Haematuria', 0),
    ('urology', 'kidney-stones', 'Kidney stones', 0),
    ('urology', 'luts', 'Lower urinary tract symptoms', 0),
    ('urology', 'raised-psa', 'Raised PSA', 0),
    ('urology', 'recurrent-uti', 'Recurrent urinary tract infection', 0),
    ('urology', 'scrotal-lump', 'Scrotal lump', 0),
    ('urology', 'testicular-pain', 'Testicular pain', 0),
    ('urology', 'incontinence', 'Urinary incontinence', 0);

-- Existing tags (free text, lower case, from older installations). A tag whose text equals a
-- topic's label (ignoring case) or slug, in the case's specialty, becomes that topic. Any other
-- text is not shown to commissioners again: it moves into the `other_topic` of the reply it came
-- with (same case, same time), where the case's GP and consultants can still read it, and leaves
-- the reports. case_topics is rebuilt so that every tag must name a topic of its specialty's list.
CREATE TEMPORARY TABLE old_tags AS
SELECT t.case_id, t.topic AS text, t.practice_id, t.specialty, t.tagged_at_ms,
       (SELECT s.slug FROM specialty_topics s
        WHERE s.specialty = t.specialty AND (lower(s.label) = lower(t.topic) OR s.slug = t.topic)
        ORDER BY s.slug LIMIT 1) AS slug
FROM case_topics t;

CREATE TABLE case_topics_listed (
    case_id      TEXT NOT NULL REFERENCES cases (id),
    -- A slug of the case's specialty list.
    topic        TEXT NOT NULL,
    practice_id  TEXT NOT NULL,
    specialty    TEXT NOT NULL,
    tagged_at_ms BIGINT NOT NULL,
    PRIMARY KEY (case_id, topic),
    FOREIGN KEY (specialty, topic) REFERENCES specialty_topics (specialty, slug)
);
INSERT INTO case_topics_listed (case_id, topic, practice_id, specialty, tagged_at_ms)
SELECT case_id, slug, practice_id, specialty, MIN(tagged_at_ms) FROM old_tags
WHERE slug IS NOT NULL GROUP BY case_id, slug, practice_id, specialty;

UPDATE case_messages SET other_topic = x.texts
FROM (SELECT case_id, tagged_at_ms, group_concat(text, ', ') AS texts FROM old_tags
      WHERE slug IS NULL GROUP BY case_id, tagged_at_ms) x
WHERE case_messages.kind = 'reply' AND case_messages.case_id = x.case_id
  AND case_messages.created_at_ms = x.tagged_at_ms;
DROP TABLE old_tags;

DROP TABLE case_topics;
ALTER TABLE case_topics_listed RENAME TO case_topics;
CREATE INDEX case_topics_by_time ON case_topics (tagged_at_ms);
CREATE INDEX case_topics_by_specialty ON case_topics (specialty, tagged_at_ms);
CREATE INDEX case_topics_by_practice ON case_topics (practice_id, tagged_at_ms);
