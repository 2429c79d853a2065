"""language_flag equals ``langid.classify(text)[0]`` on every text (SPEC §2.2)."""

from __future__ import annotations

import importlib.metadata
import itertools

import langid
import numpy as np
import py3langid
import pytest
from langid import langid as langid_module

from prism_pipeline.core.flags.language import LangidDetector, _LangidModel

# Hand-written sentences, 6 per language, 24 languages.
SENTENCES: dict[str, tuple[str, ...]] = {
    "en": (
        "How should governments balance economic growth with protecting the environment?",
        "I think honesty is the most important value in a relationship.",
        "Can you recommend a good vegetarian recipe for dinner tonight?",
        "The model gave a clear answer but it was far too long.",
        "What do you think about the death penalty?",
        "Thanks, that was helpful.",
    ),
    "es": (
        "¿Qué opinas sobre la pena de muerte en los países democráticos?",
        "Me gustaría aprender a cocinar platos tradicionales de mi abuela.",
        "La educación pública debería ser gratuita para todos los ciudadanos.",
        "No estoy de acuerdo con esa respuesta, es demasiado simple.",
        "¿Cuál es la mejor manera de ahorrar dinero cada mes?",
        "Gracias por tu ayuda.",
    ),
    "fr": (
        "Que pensez-vous de l'énergie nucléaire pour lutter contre le changement climatique ?",
        "Je voudrais savoir comment préparer une bonne soupe à l'oignon.",
        "La liberté d'expression est un droit fondamental dans une démocratie.",
        "Cette réponse est trop longue et un peu vague.",
        "Pourquoi les jeunes quittent-ils les petits villages ?",
        "Merci beaucoup pour votre réponse.",
    ),
    "de": (
        "Was halten Sie von einem bedingungslosen Grundeinkommen in Deutschland?",
        "Ich möchte lernen, wie man ein gutes Brot backt.",
        "Die Familie ist für mich das Wichtigste im Leben.",
        "Die Antwort war hilfreich, aber etwas zu kurz.",
        "Wie kann ich meine Angst vor Prüfungen überwinden?",
        "Vielen Dank für die Erklärung.",
    ),
    "it": (
        "Cosa ne pensi della legalizzazione della cannabis in Italia?",
        "Vorrei imparare a cucinare la pasta fresca come mia nonna.",
        "La famiglia e gli amici sono le cose più importanti della vita.",
        "La risposta era corretta ma troppo lunga.",
        "Come posso migliorare la mia pronuncia inglese?",
        "Grazie mille per l'aiuto.",
    ),
    "pt": (
        "O que você acha da pena de morte no Brasil?",
        "Eu gostaria de aprender a tocar violão nas férias.",
        "A educação é o caminho para reduzir a desigualdade social.",
        "A resposta foi boa, mas poderia ser mais detalhada.",
        "Quais são os melhores lugares para visitar em Portugal?",
        "Muito obrigado pela ajuda.",
    ),
    "nl": (
        "Wat vind je van het verbod op vuurwerk tijdens oudejaarsavond?",
        "Ik wil graag leren hoe ik beter kan slapen.",
        "Vrijheid van meningsuiting is belangrijk voor onze samenleving.",
        "Het antwoord was duidelijk en behulpzaam.",
        "Hoe kan ik het beste geld besparen voor mijn pensioen?",
        "Bedankt voor je hulp.",
    ),
    "pl": (
        "Co sądzisz o karze śmierci dla najgroźniejszych przestępców?",
        "Chciałbym nauczyć się gotować tradycyjne polskie pierogi.",
        "Rodzina jest dla mnie najważniejsza na świecie.",
        "Odpowiedź była zbyt długa i trochę niejasna.",
        "Jak mogę poprawić swoją znajomość języka angielskiego?",
        "Dziękuję bardzo za pomoc.",
    ),
    "da": (
        "Hvad synes du om, at unge mennesker skal betale mere i skat?",
        "Jeg vil gerne lære at bage rugbrød derhjemme.",
        "Familien er det vigtigste i mit liv.",
        "Svaret var godt, men lidt for langt.",
        "Hvordan kan jeg spare penge til min pension?",
        "Tusind tak for hjælpen.",
    ),
    "sv": (
        "Vad tycker du om kärnkraft som en lösning på klimatkrisen?",
        "Jag skulle vilja lära mig att baka kanelbullar.",
        "Familjen och vännerna är det viktigaste i livet.",
        "Svaret var bra men lite för långt.",
        "Hur kan jag bli bättre på att hantera stress på jobbet?",
        "Tack så mycket för hjälpen.",
    ),
    "fi": (
        "Mitä mieltä olet ydinvoimasta ilmastonmuutoksen torjunnassa?",
        "Haluaisin oppia leipomaan ruisleipää kotona.",
        "Perhe on minulle elämän tärkein asia.",
        "Vastaus oli hyvä mutta hieman liian pitkä.",
        "Miten voin säästää rahaa eläkettä varten?",
        "Kiitos paljon avusta.",
    ),
    "tr": (
        "İdam cezası hakkında ne düşünüyorsunuz?",
        "Annemin tarifiyle geleneksel yemekler yapmayı öğrenmek istiyorum.",
        "Aile benim için hayattaki en önemli şeydir.",
        "Cevap iyiydi ama biraz fazla uzundu.",
        "İngilizcemi nasıl geliştirebilirim?",
        "Yardımınız için çok teşekkürler.",
    ),
    "ru": (
        "Что вы думаете о смертной казни в современном обществе?",
        "Я хотел бы научиться готовить традиционный борщ.",
        "Семья для меня самое важное в жизни.",
        "Ответ был полезным, но слишком длинным.",
        "Как мне улучшить свой английский язык?",
        "Большое спасибо за помощь.",
    ),
    "uk": (
        "Що ви думаєте про смертну кару в сучасному суспільстві?",
        "Я хотів би навчитися готувати справжній український борщ.",
        "Родина для мене найважливіша в житті.",
        "Відповідь була корисною, але занадто довгою.",
        "Як мені покращити свою англійську мову?",
        "Щиро дякую за допомогу.",
    ),
    "el": (
        "Τι πιστεύετε για τη θανατική ποινή στη σύγχρονη κοινωνία;",
        "Θα ήθελα να μάθω να μαγειρεύω παραδοσιακά ελληνικά φαγητά.",
        "Η οικογένεια είναι το πιο σημαντικό πράγμα στη ζωή μου.",
        "Η απάντηση ήταν χρήσιμη αλλά πολύ μεγάλη.",
        "Πώς μπορώ να βελτιώσω τα αγγλικά μου;",
        "Ευχαριστώ πολύ για τη βοήθεια.",
    ),
    "ar": (
        "ما رأيك في عقوبة الإعدام في المجتمع الحديث؟",
        "أود أن أتعلم طبخ الأطباق التقليدية.",
        "العائلة هي أهم شيء في حياتي.",
        "كانت الإجابة مفيدة ولكنها طويلة جدا.",
        "كيف يمكنني تحسين لغتي الإنجليزية؟",
        "شكرا جزيلا على المساعدة.",
    ),
    "he": (
        "מה דעתך על עונש מוות בחברה מודרנית?",
        "הייתי רוצה ללמוד לבשל מאכלים מסורתיים.",
        "המשפחה היא הדבר החשוב ביותר בחיים שלי.",
        "התשובה הייתה מועילה אבל ארוכה מדי.",
        "איך אני יכול לשפר את האנגלית שלי?",
        "תודה רבה על העזרה.",
    ),
    "hi": (
        "आधुनिक समाज में मृत्युदंड के बारे में आप क्या सोचते हैं?",
        "मैं पारंपरिक भारतीय खाना बनाना सीखना चाहता हूँ।",
        "परिवार मेरे जीवन में सबसे महत्वपूर्ण है।",
        "जवाब उपयोगी था लेकिन बहुत लंबा था।",
        "मैं अपनी अंग्रेज़ी कैसे सुधार सकता हूँ?",
        "मदद के लिए बहुत धन्यवाद।",
    ),
    "zh": (
        "你认为现代社会应该保留死刑吗？",
        "我想学习做传统的中国菜。",
        "家庭是我生活中最重要的东西。",
        "这个回答很有帮助，但是太长了。",
        "我怎样才能提高我的英语水平？",
        "非常感谢你的帮助。",
    ),
    "ja": (
        "現代社会における死刑についてどう思いますか？",
        "伝統的な日本料理の作り方を学びたいです。",
        "家族は私の人生で一番大切なものです。",
        "その答えは役に立ちましたが、少し長すぎました。",
        "英語を上達させるにはどうすればいいですか？",
        "助けてくれて本当にありがとうございます。",
    ),
    "ko": (
        "현대 사회에서 사형 제도에 대해 어떻게 생각하세요?",
        "전통적인 한국 음식을 만드는 법을 배우고 싶어요.",
        "가족은 제 인생에서 가장 중요한 것입니다.",
        "그 대답은 도움이 되었지만 너무 길었어요.",
        "영어 실력을 어떻게 향상시킬 수 있을까요?",
        "도와주셔서 정말 감사합니다.",
    ),
    "vi": (
        "Bạn nghĩ gì về án tử hình trong xã hội hiện đại?",
        "Tôi muốn học nấu các món ăn truyền thống của Việt Nam.",
        "Gia đình là điều quan trọng nhất trong cuộc sống của tôi.",
        "Câu trả lời rất hữu ích nhưng hơi dài.",
        "Làm thế nào để tôi cải thiện tiếng Anh của mình?",
        "Cảm ơn bạn rất nhiều vì đã giúp đỡ.",
    ),
    "id": (
        "Apa pendapat Anda tentang hukuman mati di masyarakat modern?",
        "Saya ingin belajar memasak makanan tradisional Indonesia.",
        "Keluarga adalah hal yang paling penting dalam hidup saya.",
        "Jawabannya membantu tetapi terlalu panjang.",
        "Bagaimana cara meningkatkan kemampuan bahasa Inggris saya?",
        "Terima kasih banyak atas bantuannya.",
    ),
    "cs": (
        "Co si myslíte o trestu smrti v moderní společnosti?",
        "Chtěl bych se naučit vařit tradiční česká jídla.",
        "Rodina je pro mě to nejdůležitější v životě.",
        "Odpověď byla užitečná, ale příliš dlouhá.",
        "Jak si mohu zlepšit angličtinu?",
        "Moc děkuji za pomoc.",
    ),
}
EDGE_CASES = (
    "",
    " ",
    "EMPTY STRING",
    "ok",
    "no",
    "?",
    "12345",
    "3.14159 + 2.71828 = 5.85987",
    "2023-11-22",
    "😀😀😀",
    "👍",
    "🙂 thanks 🙏",
    "hola 😀",
    "https://example.com/a/b?c=d",
    "user@example.com",
    "C'est la vie",
    "Danke",
    "ja",
    "lol",
    "A" * 5000,
    "Tab\tand\nnewline\r\nmixed",
    # py3langid 0.3.0 labels this "ky" (its float32 scores differ by 1e-4); langid says "qu".
    "çлиéékçüoии.аöxюjфhä иß bб п биokгm лñé",
)
PY3LANGID_DISAGREES = EDGE_CASES[-1]


def _corpus() -> list[str]:
    texts: list[str] = list(EDGE_CASES)
    for sentences in SENTENCES.values():
        for s in sentences:
            words = s.split()
            texts += [s, words[0], " ".join(words[:3]), s.upper(), f"{s} 42 😀", f"{s} {s}"]
    # Mixed-language texts: each language's first sentence followed by the next language's.
    firsts = [sentences[0] for sentences in SENTENCES.values()]
    texts += [f"{a} {b}" for a, b in itertools.pairwise(firsts)]
    texts += [" ".join(firsts)]  # one long text in 24 languages
    return texts


CORPUS = _corpus()


@pytest.fixture(scope="module")
def reference_labels() -> list[str]:
    return [langid.classify(t)[0] for t in CORPUS]


@pytest.fixture(scope="module")
def detector() -> LangidDetector:
    return LangidDetector()


def test_corpus_is_varied(reference_labels):
    assert len(CORPUS) == 22 + 24 * 6 * 6 + 23 + 1
    assert len(SENTENCES) >= 15
    # langid itself finds the intended language for most full sentences.
    found = {lang for lang in SENTENCES if langid.classify(SENTENCES[lang][0])[0] == lang}
    assert len(found) >= 20
    assert len(set(reference_labels)) >= 20


def test_certified_labels_equal_langid_on_every_text(detector, reference_labels):
    before = detector.fallbacks
    labels = [r["language_flag"] for r in detector.detect(CORPUS)]
    assert labels == reference_labels
    assert detector.fallbacks == before  # every label came from the fast path


def test_certified_labels_equal_langid_one_text_at_a_time(detector, reference_labels):
    some = CORPUS[::37]
    assert [detector.detect([t])[0]["language_flag"] for t in some] == reference_labels[::37]


def test_forced_fallback_is_langid_itself(reference_labels):
    forced = LangidDetector(margin_factor=1e300)
    assert [r["language_flag"] for r in forced.detect(CORPUS[:60])] == reference_labels[:60]
    assert forced.fallbacks == 60


def test_langid_implementation(reference_labels):
    plain = LangidDetector(implementation="langid")
    assert [r["language_flag"] for r in plain.detect(CORPUS[:40])] == reference_labels[:40]


def test_why_not_plain_py3langid(detector):
    """py3langid 0.3.0 scores in float32: it can disagree with langid, this detector does not."""
    assert langid.classify(PY3LANGID_DISAGREES)[0] == "qu"
    assert py3langid.classify(PY3LANGID_DISAGREES)[0] == "ky"
    assert detector.detect([PY3LANGID_DISAGREES]) == [{"language_flag": "qu"}]


def test_model_file_is_langids_default_model():
    langid.classify("")  # loads langid's own default model
    reference = langid_module.identifier
    ours = _LangidModel()
    assert list(ours.classes) == list(reference.nb_classes)
    assert len(ours.classes) == 97
    np.testing.assert_array_equal(ours.ptc, reference.nb_ptc.astype(np.float64))
    np.testing.assert_array_equal(ours.pc, reference.nb_pc.astype(np.float64))
    assert ours.nextmove == list(reference.tk_nextmove)
    expected = {state: sorted(feats) for state, feats in reference.tk_output.items() if feats}
    rows = ours.state_features.tocoo()
    got: dict[int, list[int]] = {}
    for state, feat, count in zip(rows.row, rows.col, rows.data, strict=True):
        got.setdefault(int(state), []).extend([int(feat)] * int(count))
    assert {k: sorted(v) for k, v in got.items()} == expected


def test_null_and_non_string_texts(detector):
    assert detector.detect([None, "Thanks, that was helpful.", float("nan")]) == [
        {"language_flag": None},
        {"language_flag": "en"},
        {"language_flag": None},
    ]
    assert detector.null_result() == {"language_flag": None}
    assert detector.detect([]) == []


def test_lone_surrogate_does_not_fail_the_batch(detector):
    text = "bad \ud83d escape"
    with pytest.raises(UnicodeEncodeError):
        langid.classify(text)
    expected = langid.classify(text.encode("utf-8", errors="surrogatepass"))[0]
    assert detector.detect([text, "Thanks, that was helpful."]) == [{"language_flag": expected},
                                                                      {"language_flag": "en"}]
    for implementation, margin in (("certified", 1e300), ("langid", 8.0)):
        other = LangidDetector(implementation=implementation, margin_factor=margin)
        assert other.detect([text]) == [{"language_flag": expected}]


def test_version_names_the_implementation(detector):
    lv = importlib.metadata.version("langid")
    pv = importlib.metadata.version("py3langid")
    assert lv == "1.1.6" and pv == "0.3.0"
    assert detector.detector_id == "langid"
    assert detector.version == (
        "langid==1.1.6;model=default;impl=certified-sparse-f64(py3langid==0.3.0 model file,langid.classify near ties)"
    )
    assert LangidDetector(implementation="langid").version == "langid==1.1.6;model=default;impl=langid.classify"


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"^implementation must be one of \('certified', 'langid'\), got 'py3'$"):
        LangidDetector(implementation="py3")
    with pytest.raises(ValueError, match=r"^margin_factor must be >= 4 for the labels to equal langid's, got 1.0$"):
        LangidDetector(margin_factor=1.0)


def test_model_loads_lazily_once_per_process():
    from prism_pipeline.core.flags import language

    fresh = LangidDetector()
    assert fresh._model is None  # building a detector to read its version loads nothing
    fresh.load()
    assert fresh._model is language.shared_model()
    assert LangidDetector().detect(["Bonjour tout le monde"]) == [{"language_flag": "fr"}]
